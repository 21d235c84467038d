// Adversarial: hostile skills and hostile callers of POST /purutos/{name}/{command}, through the real HTTP stack
// (spec router, Ajv validation, problem+json). Every answer is checked against the schema the spec declares for
// its status.
import { chmod, mkdir, readdir, readFile, realpath, symlink, writeFile } from "node:fs/promises";
import { request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { logger } from "../../core/log/logger";
import { createApp } from "../../http/app";
import type { Authenticator } from "../../http/auth";
import { loadSpec, type LoadedSpec } from "../../http/spec";
import type { PurutosConfig } from "./config";
import { createDiscovery } from "./discovery";
import { purutosHandlers } from "./handlers";
import { createInvoker, type Invoker } from "./invoker";
import { removeDir, type SkillSpec, tempDir, testConfig, writePuruto } from "./testing";

const allowAll: Authenticator = { authenticate: async () => ({ kind: "api_key", keyId: "test", orgId: "default" }) };

let spec: LoadedSpec;
const cleanup: (() => unknown)[] = [];

beforeAll(() => {
  spec = loadSpec();
});

afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

afterAll(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

interface Served {
  base: string;
  root: string;
  invoker: Invoker;
}

/** A puruto `puruto-x` with `skills` (all allowed), served over HTTP. */
async function serveSkills(skills: Record<string, SkillSpec>, overrides: Partial<PurutosConfig> = {}): Promise<Served> {
  const root = await realpath(await tempDir("gh-attack-"));
  cleanup.push(() => removeDir(root));
  await writePuruto(root, "puruto-x", { skills });
  const config = testConfig({ ecosystemRoot: root, extraCommands: ["*"], commandTimeoutMs: 3_000, ...overrides });
  const discovery = createDiscovery(config, { watch: false });
  const invoker = createInvoker(config, discovery);
  cleanup.push(() => {
    invoker.close();
    discovery.close();
  });
  const handlers = purutosHandlers({ discovery, invoker });
  const app = createApp({ spec, handlers, auth: allowAll, logger, maxBodyBytes: 1024 * 1024 });
  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  cleanup.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, root, invoker };
}

/** POST to a path sent byte for byte (fetch would normalise `%2e%2e` away). */
function rawPost(base: string, rawPath: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: rawPath, method: "POST" }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The host PID of the process whose last argument is `marker` (the command may run in its own PID namespace). */
async function hostPidOf(marker: string): Promise<number> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.split("\0").filter(Boolean).at(-1) === marker) return Number(entry);
  }
  return 0;
}

/** POST a command; the answer is checked against the spec's schema for its status. */
async function post(base: string, command: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}/purutos/puruto-x/${command}`, {
    method: "POST",
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  // biome-ignore lint/suspicious/noExplicitAny: each test asserts the fields it cares about; the schema check covers the shape.
  const json = JSON.parse(text) as any;
  const declared = spec.byId.get("Purutos_invoke")?.responses.get(response.status);
  expect(declared, `Purutos_invoke declares status ${response.status}`).toBeDefined();
  if (declared?.validate) expect(declared.validate(json), JSON.stringify(declared.validate.errors)).toBe(true);
  return { status: response.status, body: json, headers: response.headers };
}

const SECRETS: Record<string, string> = {
  PURUTO_GATEWAY_API_KEY: "gh-secret-api-key-1",
  GATEHOUSE_API_KEYS: "gh-secret-api-key-2",
  DATABASE_URL: "postgres://u:gh-secret-db@127.0.0.1/x",
  REDIS_URL: "redis://:gh-secret-redis@127.0.0.1:6379",
  GATEHOUSE_SIGNING_KEY: "gh-secret-signing",
  OPENAI_API_KEY: "gh-secret-openai",
};

describe("the environment a skill gets", () => {
  it("holds none of the gateway's secrets, by name or by value", async () => {
    Object.assign(process.env, SECRETS);
    cleanup.push(() => {
      for (const name of Object.keys(SECRETS)) delete process.env[name];
    });
    const { base } = await serveSkills({
      env: {
        run: `#!/bin/sh\nprintf '{"env":%s}' "$(env | od -An -c | tr -d '\\n' | sed 's/"/q/g; s/\\\\/b/g' | sed 's/.*/"&"/')"\n`,
      },
    });
    const { body } = await post(base, "env");
    expect(body.invocation.status).toBe("ok");
    const dumped = String(body.invocation.result.env).replace(/\s+/g, "");
    for (const value of Object.values(SECRETS)) expect(dumped).not.toContain(value.replace(/\s+/g, ""));
  });
});

describe("the processes a skill can see", () => {
  // A skill runs as the gateway's user: with the host's /proc it read every process's start-up environment
  // (/proc/<pid>/environ: the gateway's API keys, database URL, signing secrets), whatever its own env held.
  it("holds none of another process's start-up environment: its /proc shows only its own namespace", async () => {
    const { spawn } = await import("node:child_process");
    const holder = spawn("sleep", ["60"], {
      env: { PATH: process.env.PATH ?? "", HELD_SECRET: "gh-secret-in-environ" },
    });
    cleanup.push(() => holder.kill("SIGKILL"));
    const { base } = await serveSkills({
      peek: {
        run: `#!/bin/sh\nif cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -q gh-secret-in-environ; then seen=true; else seen=false; fi\nprintf '{"seen":%s,"processes":%s}' "$seen" "$(ls -d /proc/[0-9]* | wc -l)"\n`,
      },
    });
    const { body } = await post(base, "peek");
    expect(body.invocation.status).toBe("ok");
    expect(body.invocation.result.seen).toBe(false);
  });
});

describe("argv and stdin from the JSON body", () => {
  it("the body is stdin only: no argument, no variable, nothing a shell would expand", async () => {
    const { base, root } = await serveSkills({
      args: {
        run: `#!/bin/sh\nread -r input\nprintf '{"argc":%s,"cmd":"%s","stdin_bytes":%s}' "$#" "$PURUTO_ACTION" "\${#input}"\n`,
      },
    });
    const canary = path.join(root, "pwned");
    const payload = { a: `$(touch ${canary})`, "--help": true, "\n": "`touch x`", deep: [{ "'": "; rm -rf /" }] };
    const { body } = await post(base, "args", payload, { "x-request-id": "$(touch /tmp/x)" });
    expect(body.invocation.status).toBe("ok");
    expect(body.invocation.result).toEqual({ argc: 0, cmd: "args", stdin_bytes: JSON.stringify(payload).length });
    await expect(readFile(canary)).rejects.toThrow();
  });

  it("a command or puruto name with traversal, NUL or an option never reaches the file system", async () => {
    const { base, root } = await serveSkills({});
    await writeFile(path.join(root, "puruto-x", "run"), `#!/bin/sh\ntouch ${path.join(root, "pwned")}\n`);
    await chmod(path.join(root, "puruto-x", "run"), 0o755);
    const paths = [
      "/purutos/puruto-x/..%2F..%2Frun",
      "/purutos/puruto-x/%2e%2e",
      "/purutos/puruto-x/list%00",
      "/purutos/puruto-x/-rf",
      "/purutos/..%2Fpuruto-x/list",
      "/purutos/puruto-x%00/list",
    ];
    for (const rawPath of paths) {
      const { status, body } = await rawPost(base, rawPath);
      expect([400, 404], `${rawPath}: ${status} ${JSON.stringify(body)}`).toContain(status);
      expect(body.code, rawPath).toMatch(/^(COMMAND_NOT_ALLOWED|PURUTO_NOT_FOUND|VALIDATION_FAILED)$/);
    }
    await expect(readFile(path.join(root, "pwned"))).rejects.toThrow();
  });
});

describe("hostile output", () => {
  it("a skill that floods stdout and stderr is killed at the output limit, quickly", async () => {
    const { base } = await serveSkills(
      { flood: { run: "#!/bin/sh\n(yes err >&2) & exec yes out\n" } },
      { commandOutputLimit: 64 * 1024 },
    );
    const started = Date.now();
    const { body } = await post(base, "flood");
    expect(body.invocation.error).toMatchObject({ code: "INVALID_RESPONSE", details: { truncated: true } });
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it("a skill that floods only stderr is stopped at the timeout and its stderr is not returned", async () => {
    const { base } = await serveSkills(
      { noisy: { run: "#!/bin/sh\nexec yes secret-in-stderr >&2\n" } },
      {
        commandTimeoutMs: 500,
      },
    );
    const { body } = await post(base, "noisy");
    expect(body.invocation.error.code).toBe("TIMEOUT");
    expect(JSON.stringify(body)).not.toContain("secret-in-stderr");
  });

  it("a skill that closes stdout early and keeps running is stopped at the timeout", async () => {
    const { base } = await serveSkills(
      { closer: { run: "#!/bin/sh\nexec >&- 2>&-\nsleep 30\n" } },
      {
        commandTimeoutMs: 500,
      },
    );
    const started = Date.now();
    const { body } = await post(base, "closer");
    expect(body.invocation.error.code).toBe("TIMEOUT");
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it("invalid UTF-8 on stdout gives a valid JSON answer (replacement characters), never a 500", async () => {
    const { base } = await serveSkills({
      bytes: { run: `#!/bin/sh\nprintf '{"text":"a\\377\\376b\\300"}'\n` },
      junk: { run: "#!/bin/sh\nprintf '\\377\\376\\000\\001 not json'\n" },
    });
    const ok = await post(base, "bytes");
    expect(ok.status).toBe(200);
    expect(ok.body.invocation.result.text).toBe("a\uFFFD\uFFFDb\uFFFD");
    const junk = await post(base, "junk");
    expect(junk.status).toBe(200);
    expect(junk.body.invocation.error.code).toBe("INVALID_RESPONSE");
  });

  it("a skill killed by a signal (here the OOM killer's SIGKILL, sent from outside) is COMMAND_FAILED naming it", async () => {
    const marker = `gh-killed-${Date.now()}`;
    const { base } = await serveSkills({ killed: { run: `#!/bin/sh\nexec sh -c "sleep 30; :" ${marker}\n` } });
    const answer = post(base, "killed");
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      await new Promise((r) => setTimeout(r, 20));
      pid = await hostPidOf(marker);
    }
    expect(pid).toBeGreaterThan(0); // never kill(0): that is the test's own process group
    process.kill(pid, "SIGKILL");
    const { body } = await answer;
    expect(body.invocation.error).toMatchObject({ code: "COMMAND_FAILED", details: { signal: "SIGKILL" } });
    expect(body.invocation.error.message).toContain("SIGKILL");
  });
});

describe("a skill that leaves a daemon behind", () => {
  it("a background process holding stdout does not keep the answer waiting past the timeout", async () => {
    // The skill answers and exits, but a child it started keeps the pipe open (and ignores SIGTERM/SIGHUP).
    const { base } = await serveSkills(
      { daemon: { run: `#!/bin/sh\n(trap '' TERM HUP; sleep 30) &\necho '{"ok":true}'\n` } },
      { commandTimeoutMs: 1_000 },
    );
    const started = Date.now();
    const { body } = await post(base, "daemon");
    expect(body.invocation.status).toBe("ok");
    expect(body.invocation.result).toEqual({ ok: true });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe("what a `run` file may be", () => {
  async function refusedOrFailed(base: string, command: string) {
    const answer = await post(base, command);
    if (answer.status === 200) expect(answer.body.invocation.status).toBe("error");
    else expect(answer.status).toBe(400);
    return answer;
  }

  it("a symlink out of the puruto, a non-executable file, a directory: never run", async () => {
    const { base, root } = await serveSkills({ link: {}, plain: {}, dir: {} });
    const skills = path.join(root, "puruto-x", ".claude", "skills");
    const outside = path.join(root, "outside.sh");
    await writeFile(outside, `#!/bin/sh\ntouch ${path.join(root, "ran-outside")}\necho '{}'\n`);
    await chmod(outside, 0o755);
    await symlink(outside, path.join(skills, "link", "run"));
    await writeFile(path.join(skills, "plain", "run"), "#!/bin/sh\necho '{}'\n");
    await mkdir(path.join(skills, "dir", "run"));
    for (const command of ["link", "plain", "dir"]) {
      const { status, body } = await refusedOrFailed(base, command);
      expect(status, `${command}: ${JSON.stringify(body)}`).toBe(400);
      expect(body.errors[0].message).toContain("executable");
    }
    await expect(readFile(path.join(root, "ran-outside"))).rejects.toThrow();
  });

  it.each([
    ["setuid", 0o4755],
    ["setgid", 0o2755],
  ])(
    "a %s run file is never run: not runnable in discovery, and refused when the bit appears after discovery",
    async (_label, mode) => {
      const { base, root } = await serveSkills({
        early: { run: "#!/bin/sh\necho '{}'\n" },
        late: { run: "#!/bin/sh\necho '{}'\n" },
      });
      const skills = path.join(root, "puruto-x", ".claude", "skills");
      await chmod(path.join(skills, "early", "run"), mode);
      const early = await post(base, "early");
      expect(early.status, JSON.stringify(early.body)).toBe(400);
      // Discovery has looked (and caches what it saw): the file changes under it.
      await chmod(path.join(skills, "late", "run"), mode);
      const late = await post(base, "late");
      expect(late.status).toBe(200);
      expect(late.body.invocation.error).toMatchObject({ code: "DENIED" });
    },
  );
});

describe("200 simultaneous command calls", () => {
  it("at most the configured number run at once; beyond the queue's bound the answer is 503 with Retry-After", async () => {
    // Each run counts the runs in progress (a file per run in the puruto's folder) while it lasts.
    const slow = [
      "#!/bin/sh",
      'mkdir -p running && touch "running/$PURUTO_REQUEST_ID"',
      "seen=$(ls running | wc -l)",
      "sleep 0.3",
      'rm "running/$PURUTO_REQUEST_ID"',
      'echo "{\\"seen\\":$seen}"',
      "",
    ].join("\n");
    const { base } = await serveSkills({ slow: { run: slow } }, { maxConcurrentCommands: 4, maxQueuedCommands: 8 });
    const answers = await Promise.all(Array.from({ length: 200 }, () => post(base, "slow")));
    const ran = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 503);
    expect(ran.length + busy.length).toBe(200);
    expect(ran.length).toBeGreaterThanOrEqual(12);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy[0]?.body).toMatchObject({ code: "COMMANDS_BUSY" });
    expect(busy[0]?.headers.get("retry-after")).toMatch(/^\d+$/);
    for (const a of ran) expect(a.body.invocation.status).toBe("ok");
    expect(Math.max(...ran.map((a) => a.body.invocation.result.seen))).toBeLessThanOrEqual(4);
  }, 30_000);
});
