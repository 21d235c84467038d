// Adversarial: an ecosystem root or a `.claude/skills` folder with a huge number of entries. Both used to be
// listed whole (readdir) on every rebuild: 200,000 entries stalled the event loop 0.9 s and took 76 MB, and the
// 1,000-skill limit only applied after the listing. Directories are now read as a stream, and at most
// `directoryEntryLimit` entries of each are examined; the rest is reported, not read.
import { execFileSync } from "node:child_process";
import { mkdir, realpath } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { logger } from "../../core/log/logger";
import { createApp } from "../../http/app";
import type { Authenticator } from "../../http/auth";
import { loadSpec } from "../../http/spec";
import { systemHandlers } from "../../system/handlers";
import { createDiscovery, type Discovery, withoutPaths } from "./discovery";
import { MAX_DIRECTORY_ENTRIES } from "./directory";
import { removeDir, tempDir, testConfig, writePuruto, writeSkill } from "./testing";

const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

async function freshRoot(): Promise<string> {
  const root = await realpath(await tempDir("gh-bigdir-"));
  cleanup.push(() => removeDir(root));
  return root;
}

function discover(root: string, directoryEntryLimit?: number): Discovery {
  const discovery = createDiscovery(
    testConfig({ ecosystemRoot: root, ...(directoryEntryLimit ? { directoryEntryLimit } : {}) }),
    { watch: false },
  );
  cleanup.push(() => discovery.close());
  return discovery;
}

/** `count` empty folders named `${prefix}NNNNNN` under `dir`. */
async function manyFolders(dir: string, prefix: string, count: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i += 500) {
    const batch = Array.from({ length: Math.min(500, count - i) }, (_, j) =>
      mkdir(path.join(dir, `${prefix}${String(i + j).padStart(6, "0")}`)),
    );
    await Promise.all(batch);
  }
}

/** `count` empty files named `${prefix}NNNNNN` under `dir`: one `touch` per few thousand (fast to create). */
async function manyFiles(dir: string, prefix: string, count: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  execFileSync("sh", ["-c", `seq -f '${prefix}%06g' 1 ${count} | xargs touch`], { cwd: dir });
}

describe("a directory with more entries than the cap (small cap injected)", () => {
  it("ecosystem root: only the first entries listed are examined, and /health's problems say so", async () => {
    const root = await freshRoot();
    await manyFolders(root, "puruto-p", 120);
    const discovery = discover(root, 50);

    const purutos = await discovery.list();
    expect(purutos).toHaveLength(50);
    const { problems } = withoutPaths(await discovery.snapshot());
    expect(problems).toContain(
      `…/${path.basename(root)}: more than 50 entries, only the first 50 the file system listed were examined`,
    );
  });

  it(".claude/skills: only the first entries listed are examined, the others are neither read nor listed", async () => {
    const root = await freshRoot();
    const puruto = await writePuruto(root, "puruto-many", { baseSkills: false });
    for (let i = 0; i < 120; i++) await writeSkill(puruto, `s${String(i).padStart(3, "0")}`, {});
    const discovery = discover(root, 50);

    const [item] = await discovery.list();
    expect(item?.skills).toHaveLength(50);
    const { problems } = await discovery.snapshot();
    expect(problems).toContain(
      `${path.join(puruto, ".claude", "skills")}: more than 50 entries, only the first 50 the file system listed were examined`,
    );
  });

  it("a directory at or under the cap is read whole, with no problem", async () => {
    const root = await freshRoot();
    await manyFolders(root, "puruto-p", 50);
    const discovery = discover(root, 50);
    expect(await discovery.list()).toHaveLength(50);
    expect((await discovery.snapshot()).problems).toEqual([]);
  });
});

describe("a realistic large ecosystem (20,000 entries in a root and in one skills folder)", () => {
  it("GET /health keeps answering quickly while discovery rebuilds, and reports the cut", async () => {
    // Two roots: which 10,000 entries of the crowded one are examined is the file system's order.
    const crowded = await freshRoot();
    await manyFiles(crowded, "junk-", 20_000);
    const root = await freshRoot();
    const puruto = await writePuruto(root, "puruto-big");
    // Entries of a skills folder that are not skill folders cost the same to list.
    await manyFiles(path.join(puruto, ".claude", "skills"), "s", 20_000);
    const discovery = createDiscovery(testConfig({ ecosystemRoot: crowded, ecosystemRoots: [crowded, root] }), {
      watch: false,
    });
    cleanup.push(() => discovery.close());
    const base = await serveHealth(discovery);

    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const latencies: number[] = [];
    // The first build, then a forced rebuild, with /health polled all along.
    const rebuilding = (async () => {
      await discovery.snapshot();
      await discovery.refresh();
    })();
    let done = false;
    void rebuilding.finally(() => {
      done = true;
    });
    let last: { discovery: { problems: string[]; purutos: number } } | undefined;
    while (!done) {
      const started = performance.now();
      const response = await fetch(`${base}/health`);
      last = (await response.json()) as typeof last;
      latencies.push(performance.now() - started);
    }
    await rebuilding;
    loop.disable();

    // Generous bounds for a shared 2-core machine; the whole listing stalled the loop 0.9 s at 200k entries.
    expect(loop.max / 1e6).toBeLessThan(250);
    expect(Math.max(...latencies)).toBeLessThan(2_000);
    const final = (await (await fetch(`${base}/health`)).json()) as NonNullable<typeof last>;
    expect(final.discovery.purutos).toBe(1);
    const limit = MAX_DIRECTORY_ENTRIES;
    expect(final.discovery.problems).toEqual(
      expect.arrayContaining([
        `…/${path.basename(crowded)}: more than ${limit} entries, only the first ${limit} the file system listed were examined`,
        `…/skills: more than ${limit} entries, only the first ${limit} the file system listed were examined`,
      ]),
    );
  }, 60_000);
});

const allowAll: Authenticator = { authenticate: async () => ({ kind: "api_key", keyId: "test", orgId: "default" }) };

/** GET /health over HTTP, with the discovery snapshot as the server wires it. */
async function serveHealth(discovery: Discovery): Promise<string> {
  const spec = loadSpec();
  const handlers = systemHandlers({
    version: "test",
    openapi: spec.document,
    asyncapiFile: path.resolve(import.meta.dirname, "../../../spec/sessions.asyncapi.yaml"),
    probes: {},
    jwks: () => [],
    discovery: async () => withoutPaths(await discovery.snapshot()),
  });
  const app = createApp({ spec, handlers, auth: allowAll, logger, maxBodyBytes: 1024 });
  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  cleanup.push(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
