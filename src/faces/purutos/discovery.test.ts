import { mkdir, realpath, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDiscovery, type Discovery, withoutPaths } from "./discovery";
import { MAX_REGISTRY_ENTRIES, MAX_REGISTRY_PROBLEMS, REGISTRY_MAX_DEPTH } from "./registry";
import { FRONT_MATTER_LIMIT, FRONT_MATTER_MAX_DEPTH } from "./repo";
import { removeDir, tempDir, testConfig, writePuruto, writeSkill } from "./testing";

let root: string;
let outside: string;
const opened: Discovery[] = [];

beforeEach(async () => {
  root = await realpath(await tempDir());
  outside = await realpath(await tempDir("gatehouse-outside-"));
});

afterEach(async () => {
  for (const d of opened.splice(0)) d.close();
  await removeDir(root);
  await removeDir(outside);
});

function discover(overrides: Parameters<typeof testConfig>[0], options = {}) {
  const discovery = createDiscovery(testConfig(overrides), options);
  opened.push(discovery);
  return discovery;
}

async function writeRegistry(dir: string, doc: unknown): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "registry.json"), typeof doc === "string" ? doc : JSON.stringify(doc));
}

describe("scan of puruto-* folders", () => {
  it("lists puruto-* folders with the seed's normalised shape and infers kind from the name", async () => {
    await writePuruto(root, "puruto-data");
    await writePuruto(root, "puruto-cron");
    await writePuruto(root, "puruto-financial");
    await writePuruto(root, "puruto-telegram-bot");
    await mkdir(path.join(root, "not-a-puruto"));
    await writeFile(path.join(root, "puruto-file"), "a file, not a folder");

    const items = await discover({ ecosystemRoot: root }).list();

    expect(items.map((i) => [i.name, i.kind, i.path, i.source])).toEqual([
      ["puruto-cron", "puruto-cron", path.join(root, "puruto-cron"), "scan"],
      ["puruto-data", "puruto-data", path.join(root, "puruto-data"), "scan"],
      ["puruto-financial", "standard", path.join(root, "puruto-financial"), "scan"],
      ["puruto-telegram-bot", "puruto-telegram", path.join(root, "puruto-telegram-bot"), "scan"],
    ]);
    expect(items[0]?.commands).toEqual(["init", "help", "list", "status"]);
    expect(items[0]?.standardVersion).toBe("0.2.0");
    expect(items[0]?.description).toBe("The puruto-cron puruto.");
  });

  it("reads skills from SKILL.md front matter and reports a broken one without hiding the rest", async () => {
    const dir = await writePuruto(root, "puruto-financial", {
      skills: {
        balance: { description: "Balance of an account", userInvocable: true, run: "#!/bin/sh\necho '{}'\n" },
        report: { description: "Monthly report", userInvocable: false },
        broken: { raw: "---\nname: [unclosed\n---\nbody" },
      },
    });
    await writePuruto(root, "puruto-cron");

    const discovery = discover({ ecosystemRoot: root });
    const item = await discovery.get("puruto-financial");

    expect(item?.skills.map((s) => [s.command, s.description, s.userInvocable, s.runPath !== null])).toEqual([
      ["balance", "Balance of an account", true, true],
      ["help", "Base help", true, false],
      ["init", "Base init", true, false],
      ["list", "Base list", true, false],
      ["report", "Monthly report", false, false],
      ["status", "Base status", true, false],
    ]);
    const snapshot = await discovery.snapshot();
    expect(snapshot.purutos).toBe(2);
    expect(snapshot.problems.some((p) => p.includes(path.join(dir, ".claude/skills/broken/SKILL.md")))).toBe(true);
  });

  it("refuses SKILL.md front matter over 16 KiB or nested deeper than 32 before YAML reads it", async () => {
    const nested = (depth: number) => `---\nx: ${"[".repeat(depth)}${"]".repeat(depth)}\n---\n`;
    await writePuruto(root, "puruto-a", {
      skills: {
        huge1: { raw: nested(120_000) },
        huge2: { raw: nested(120_000) },
        huge3: { raw: nested(120_000) },
        deep: { raw: nested(8_000) },
        fine: { description: "Uses [brackets] and {braces} in its text" },
      },
    });

    const discovery = discover({ ecosystemRoot: root });
    const started = performance.now();
    const [item] = await discovery.list();
    // YAML parsed each huge one recursively on the event loop: ~1 s apiece, every rebuild, for every request.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(item?.skills.map((s) => [s.command, s.description])).toContainEqual([
      "fine",
      "Uses [brackets] and {braces} in its text",
    ]);
    expect(item?.skills.map((s) => s.command)).not.toContain("deep");
    const problems = (await discovery.snapshot()).problems;
    const longer = `front matter longer than ${FRONT_MATTER_LIMIT} characters`;
    expect(problems.filter((p) => p.endsWith(longer))).toHaveLength(3);
    expect(problems).toContainEqual(
      expect.stringMatching(
        new RegExp(`deep/SKILL\\.md: front matter nested deeper than ${FRONT_MATTER_MAX_DEPTH} levels$`),
      ),
    );
  });

  it("reads a README of 64k unclosed `<!--` in linear time, and still drops closed comments", async () => {
    await writePuruto(root, "puruto-a", { readme: "<!--".repeat(65_536) });
    await writePuruto(root, "puruto-b", { readme: "# B\n\n<!-- badge -->Keeps <!-- a\nnote -->its text.\n" });

    const discovery = discover({ ecosystemRoot: root });
    const started = performance.now();
    const items = await discovery.list();
    // The comment regex scanned to the end from every `<!--`: 13 s of event loop per rebuild on the live gateway.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(items.map((i) => i.name)).toEqual(["puruto-a", "puruto-b"]);
    expect(items[0]?.description).toMatch(/^<!--<!--.*\.\.\.$/); // an unclosed comment is text, as before
    expect(items[1]?.description).toBe("Keeps its text.");
  });

  it("adds only operator-allowed skills that can run to `commands`", async () => {
    await writePuruto(root, "puruto-financial", {
      skills: {
        balance: { run: "#!/bin/sh\necho '{}'\n" },
        report: {}, // no run script
        forecast: { run: "#!/bin/sh\necho '{}'\n" },
      },
    });

    const none = await discover({ ecosystemRoot: root }).get("puruto-financial");
    const balanceOnly = await discover({ ecosystemRoot: root, extraCommands: ["balance", "report"] }).get(
      "puruto-financial",
    );
    const all = await discover({ ecosystemRoot: root, extraCommands: ["*"] }).get("puruto-financial");
    const withAgent = await discover({ ecosystemRoot: root, extraCommands: ["*"], agentCommand: ["agent"] }).get(
      "puruto-financial",
    );

    expect(none?.commands).toEqual(["init", "help", "list", "status"]);
    expect(balanceOnly?.commands).toEqual(["init", "help", "list", "status", "balance"]);
    expect(all?.commands).toEqual(["init", "help", "list", "status", "balance", "forecast"]);
    expect(withAgent?.commands).toEqual(["init", "help", "list", "status", "balance", "forecast", "report"]);
  });
});

describe("registry.json", () => {
  it("reads puruto-data's {name, folder, registered_at} entries under `purutos` and resolves the folder", async () => {
    await writePuruto(root, "puruto-financial");
    await writePuruto(root, "money-folder");
    const dataDir = path.join(root, "puruto-data");
    await writePuruto(root, "puruto-data");
    await writeRegistry(dataDir, {
      version: "1",
      purutos: [
        { name: "puruto-financial", folder: "puruto-financial", registered_at: "2026-02-25T20:00:00.000000" },
        { name: "puruto-money", folder: "money-folder", registered_at: "2026-02-25T20:01:00.000000" },
      ],
    });

    const discovery = discover({ ecosystemRoot: root, dataPath: dataDir });
    const items = await discovery.list();

    expect(items.map((i) => [i.name, i.path, i.source])).toEqual([
      ["puruto-data", path.join(root, "puruto-data"), "scan"],
      ["puruto-financial", path.join(root, "puruto-financial"), "registry"],
      ["puruto-money", path.join(root, "money-folder"), "registry"],
    ]);
    expect((await discovery.snapshot()).sources).toEqual([
      `registry:${path.join(dataDir, "registry.json")}`,
      `scan:${root}`,
    ]);
  });

  it("accepts the `repos` root with `id`, `path` and a declared `kind`", async () => {
    const dir = await writePuruto(root, "puruto-finance");
    await writeRegistry(outside, { repos: [{ id: "puruto-finance", path: dir, kind: "puruto-data" }] });

    const item = await discover({ ecosystemRoot: root, dataPath: path.join(outside, "registry.json") }).get(
      "puruto-finance",
    );

    expect(item).toMatchObject({ name: "puruto-finance", path: dir, kind: "puruto-data", source: "registry" });
  });

  it("a folder named like a puruto that the name rule refuses is reported in the problems, not silently skipped", async () => {
    await writePuruto(root, "puruto-ok");
    for (const bad of ["puruto-\u0435vil", "puruto-a..b", `puruto-${"y".repeat(200)}`]) await writePuruto(root, bad);
    const d = discover({ ecosystemRoot: root });
    expect((await d.list()).map((i) => i.name)).toEqual(["puruto-ok"]);
    const problems = (await d.snapshot()).problems.join("\n");
    expect(problems).toContain('"puruto-\u0435vil" is not a valid puruto name');
    expect(problems).toContain('"puruto-a..b" is not a valid puruto name');
    expect(problems).toMatch(/"puruto-y{73}…" is not a valid puruto name/u);
  });

  it("what GET /health shows of a problem quotes a folder's name visibly: no raw bidi override or CSI", async () => {
    await writePuruto(root, "puruto-\u202ex\u009b");
    const { problems } = withoutPaths(await discover({ ecosystemRoot: root }).snapshot());
    const text = problems.join("\n");
    expect(text).toContain("puruto-\\u{202e}x\\u{009b}");
    expect(text).not.toMatch(/[\p{Cc}\p{Cf}]/u);
  });

  it("a declared kind outside the documented five is not passed on: the kind is inferred from the name", async () => {
    const cron = await writePuruto(root, "puruto-cron-nightly");
    const plain = await writePuruto(root, "puruto-notes");
    await writeRegistry(outside, {
      purutos: [
        { name: "puruto-cron-nightly", path: cron, kind: "puruto-data\u0000\u202e" },
        { name: "puruto-notes", path: plain, kind: "x".repeat(100_000) },
      ],
    });
    const d = discover({ ecosystemRoot: root, dataPath: path.join(outside, "registry.json") });
    expect((await d.get("puruto-cron-nightly"))?.kind).toBe("puruto-cron");
    expect((await d.get("puruto-notes"))?.kind).toBe("standard");
  });

  it("keeps an entry whose folder does not exist, with path null", async () => {
    await writeRegistry(outside, { purutos: [{ name: "puruto-gone" }] });

    const item = await discover({ ecosystemRoot: root, dataPath: outside }).get("puruto-gone");

    expect(item).toMatchObject({ name: "puruto-gone", path: null, kind: "standard", source: "registry" });
    expect(item?.commands).toEqual(["init", "help", "list", "status"]);
  });

  it("falls back to an unresolvable `path` by name: a registry copied from another machine still finds folders", async () => {
    await writePuruto(root, "puruto-cron");
    await writeRegistry(outside, { purutos: [{ name: "puruto-cron", path: "/ruta/puruto-cron" }] });

    const item = await discover({ ecosystemRoot: root, dataPath: outside }).get("puruto-cron");

    expect(item?.path).toBe(path.join(root, "puruto-cron"));
  });

  it("merges: scanned folders stay visible, and the registry wins a name clash", async () => {
    await writePuruto(root, "puruto-a");
    await writePuruto(root, "puruto-b");
    await writePuruto(root, "elsewhere-b");
    await writeRegistry(outside, { purutos: [{ name: "puruto-b", folder: "elsewhere-b", kind: "puruto-cron" }] });

    const items = await discover({ ecosystemRoot: root, dataPath: outside }).list();

    expect(items.map((i) => [i.name, i.source, i.path, i.kind])).toEqual([
      ["puruto-a", "scan", path.join(root, "puruto-a"), "standard"],
      ["puruto-b", "registry", path.join(root, "elsewhere-b"), "puruto-cron"],
    ]);
  });

  it("treats a missing registry as a problem and keeps scanning", async () => {
    await writePuruto(root, "puruto-a");

    const discovery = discover({ ecosystemRoot: root, dataPath: path.join(outside, "nope") });

    expect((await discovery.list()).map((i) => i.name)).toEqual(["puruto-a"]);
    const snapshot = await discovery.snapshot();
    expect(snapshot.problems).toEqual([`${path.join(outside, "nope", "registry.json")}: registry.json not found`]);
    expect(snapshot.sources).toEqual([`scan:${root}`]);
  });

  it.each([
    ["invalid JSON", "{ not json"],
    ["a root without purutos/repos", JSON.stringify({ version: "1", items: [] })],
    ["a scalar root", "42"],
  ])("never throws on %s: it becomes a problem", async (_label, text) => {
    await writePuruto(root, "puruto-a");
    await writeRegistry(outside, text);

    const discovery = discover({ ecosystemRoot: root, dataPath: outside });

    expect((await discovery.list()).map((i) => i.name)).toEqual(["puruto-a"]);
    const { problems, purutos } = await discovery.snapshot();
    expect(purutos).toBe(1);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(path.join(outside, "registry.json"));
  });

  it("skips items without a name, with unsafe names, or repeated, and reports each", async () => {
    await writeRegistry(outside, {
      purutos: [
        { folder: "x" },
        { name: "../x" },
        { name: "/etc" },
        { id: "%2e%2e" },
        { name: "puruto-ok" },
        { name: "puruto-ok" },
        "just a string",
      ],
    });

    const discovery = discover({ ecosystemRoot: root, dataPath: outside });

    expect((await discovery.list()).map((i) => i.name)).toEqual(["puruto-ok"]);
    expect((await discovery.snapshot()).problems).toHaveLength(6);
  });

  it("a registry of 400k broken items keeps discovery and /health working, with a bounded list of problems", async () => {
    await writePuruto(root, "puruto-a");
    await writeRegistry(outside, { purutos: Array.from({ length: 400_000 }, (_, i) => ({ name: `../${i}` })) });

    const discovery = discover({ ecosystemRoot: root, dataPath: outside });

    // Used to throw RangeError (400k problems spread into one push): every GET /purutos and /health was a 500.
    expect((await discovery.list()).map((i) => i.name)).toEqual(["puruto-a"]);
    const { problems } = await discovery.snapshot();
    expect(problems.length).toBeLessThanOrEqual(MAX_REGISTRY_PROBLEMS + 1);
    expect(problems.at(-1)).toContain(`${400_000 - MAX_REGISTRY_PROBLEMS} more problems not listed`);
  });

  it("refuses a registry nested 4M deep without parsing it (it held the event loop 1.6 s per rebuild)", async () => {
    await writePuruto(root, "puruto-a");
    const depth = 4_000_000;
    await writeRegistry(outside, `{"purutos":${"[".repeat(depth)}${"]".repeat(depth)}}`);

    const discovery = discover({ ecosystemRoot: root, dataPath: outside });
    const started = performance.now();
    expect((await discovery.list()).map((i) => i.name)).toEqual(["puruto-a"]);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((await discovery.snapshot()).problems).toEqual([
      `${path.join(outside, "registry.json")}: nested deeper than ${REGISTRY_MAX_DEPTH} levels, ignored`,
    ]);
  });

  it("reads a registry whose strings hold brackets and escaped quotes", async () => {
    await writePuruto(root, "puruto-a");
    const note = `${"[{".repeat(40)}\\"${"]}".repeat(40)}`;
    await writeRegistry(outside, { purutos: [{ name: "puruto-a", folder: "puruto-a", note, kind: "puruto-data" }] });

    const discovery = discover({ ecosystemRoot: root, dataPath: outside });
    expect((await discovery.list()).map((i) => [i.name, i.kind, i.source])).toEqual([
      ["puruto-a", "puruto-data", "registry"],
    ]);
  });

  it(`uses the first ${MAX_REGISTRY_ENTRIES} registry entries and says the rest were ignored`, async () => {
    const items = Array.from({ length: MAX_REGISTRY_ENTRIES + 5_000 }, (_, i) => ({ name: `p${i}`, path: `/x/${i}` }));
    await writeRegistry(outside, { purutos: items });
    await writePuruto(root, "puruto-a");

    const discovery = discover({ ecosystemRoot: root, dataPath: outside });
    const names = (await discovery.list()).map((i) => i.name);

    expect(names).toHaveLength(MAX_REGISTRY_ENTRIES + 1); // and the scanned puruto-a
    expect(names).toContain("puruto-a");
    expect(names).toContain(`p${MAX_REGISTRY_ENTRIES - 1}`);
    expect(names).not.toContain(`p${MAX_REGISTRY_ENTRIES}`);
    expect((await discovery.snapshot()).problems).toContain(
      `${path.join(outside, "registry.json")}: more than ${MAX_REGISTRY_ENTRIES} purutos, items from ${MAX_REGISTRY_ENTRIES} on ignored`,
    );
  });

  it("refuses registry paths outside the ecosystem root", async () => {
    await writePuruto(outside, "puruto-evil");
    await writeRegistry(path.join(root, "puruto-data"), {
      purutos: [
        { name: "puruto-evil", path: path.join(outside, "puruto-evil") },
        { name: "puruto-up", folder: "../" },
      ],
    });

    const discovery = discover({ ecosystemRoot: root, dataPath: path.join(root, "puruto-data") });
    const items = await discovery.list();

    // Refused, not missing: neither is a puruto (not listed, not runnable).
    expect(items.filter((i) => i.source === "registry")).toEqual([]);
    expect((await discovery.snapshot()).problems.filter((p) => p.includes("outside the ecosystem root"))).toHaveLength(
      2,
    );
  });
});

describe("path safety", () => {
  it("ignores a puruto-* symlink whose real path escapes the root, keeps one that stays inside", async () => {
    await writePuruto(outside, "secret-repo", { skills: { steal: { run: "#!/bin/sh\necho '{}'\n" } } });
    await writePuruto(root, "puruto-real");
    await symlink(path.join(outside, "secret-repo"), path.join(root, "puruto-evil"));
    await symlink(path.join(root, "puruto-real"), path.join(root, "puruto-alias"));

    const discovery = discover({ ecosystemRoot: root });
    const items = await discovery.list();

    expect(items.map((i) => [i.name, i.path])).toEqual([
      ["puruto-alias", path.join(root, "puruto-real")],
      ["puruto-real", path.join(root, "puruto-real")],
    ]);
    expect(await discovery.get("puruto-evil")).toBeUndefined();
    expect((await discovery.snapshot()).problems.join("\n")).toContain("puruto-evil: symlink points outside");
  });

  it("does not count a skill `run` symlinked outside the puruto as runnable", async () => {
    const dir = await writePuruto(root, "puruto-a", { skills: { tool: {} } });
    await writeFile(path.join(outside, "payload.sh"), "#!/bin/sh\necho '{}'\n", { mode: 0o755 });
    await symlink(path.join(outside, "payload.sh"), path.join(dir, ".claude/skills/tool/run"));

    const item = await discover({ ecosystemRoot: root, extraCommands: ["tool"] }).get("puruto-a");

    expect(item?.skills.find((s) => s.command === "tool")?.runPath).toBeNull();
    expect(item?.commands).not.toContain("tool");
  });

  it.each([
    "../x",
    "..",
    "%2e%2e",
    "%2E%2E%2Fetc",
    "/etc",
    "/etc/passwd",
    "puruto-a/../puruto-b",
    "puruto-a/x",
    "puruto-a\\x",
    "",
    "puruto-a\0",
  ])("get(%j) is undefined", async (name) => {
    await writePuruto(root, "puruto-a");
    await writePuruto(root, "puruto-b");
    expect(await discover({ ecosystemRoot: root }).get(name)).toBeUndefined();
  });

  it("reports a missing ecosystem root instead of throwing", async () => {
    const discovery = discover({ ecosystemRoot: path.join(root, "does-not-exist") });
    expect(await discovery.list()).toEqual([]);
    expect((await discovery.snapshot()).problems[0]).toContain("ecosystem root not found");
  });
});

describe("cache", () => {
  it("serves repeated lists from memory (300 purutos, no disk walk per request)", async () => {
    for (let i = 0; i < 300; i++) await writePuruto(root, `puruto-n${String(i).padStart(3, "0")}`);
    const discovery = discover({ ecosystemRoot: root }, { statIntervalMs: 60_000 });

    const buildStarted = performance.now();
    const first = await discovery.list();
    const buildMs = performance.now() - buildStarted;
    const started = performance.now();
    let same = true;
    for (let i = 0; i < 1000; i++) same &&= (await discovery.list()) === first;
    const elapsed = performance.now() - started;

    expect(first).toHaveLength(300);
    expect(same).toBe(true);
    expect(elapsed).toBeLessThan(250);
    expect(buildMs).toBeLessThan(5000);
  });

  it("sees a new folder through the cheap mtime check, without restart", async () => {
    await writePuruto(root, "puruto-a");
    const discovery = discover({ ecosystemRoot: root }, { watch: false, statIntervalMs: 0 });
    expect((await discovery.list()).map((i) => i.name)).toEqual(["puruto-a"]);

    await writePuruto(root, "puruto-b");

    expect((await discovery.list()).map((i) => i.name)).toEqual(["puruto-a", "puruto-b"]);
  });

  it("sees a new folder through fs.watch even when stat checks are rare", async () => {
    await writePuruto(root, "puruto-a");
    const discovery = discover({ ecosystemRoot: root }, { statIntervalMs: 60_000 });
    expect(await discovery.list()).toHaveLength(1);

    await writePuruto(root, "puruto-b");
    let names: string[] = [];
    for (let attempt = 0; attempt < 40 && names.length < 2; attempt++) {
      await new Promise((r) => setTimeout(r, 50));
      names = (await discovery.list()).map((i) => i.name);
    }

    expect(names).toEqual(["puruto-a", "puruto-b"]);
  });

  it("sees a rewritten registry.json", async () => {
    await writePuruto(root, "puruto-a");
    await writeRegistry(outside, { purutos: [] });
    const discovery = discover({ ecosystemRoot: root, dataPath: outside }, { watch: false, statIntervalMs: 0 });
    expect((await discovery.list()).map((i) => i.name)).toEqual(["puruto-a"]);

    await writeRegistry(outside, { purutos: [{ name: "puruto-z", kind: "puruto-gateway" }] });

    expect((await discovery.list()).map((i) => [i.name, i.kind])).toEqual([
      ["puruto-a", "standard"],
      ["puruto-z", "puruto-gateway"],
    ]);
  });

  it("picks up a new skill inside a puruto after the TTL (background rebuild)", async () => {
    const dir = await writePuruto(root, "puruto-a");
    const discovery = discover({ ecosystemRoot: root, extraCommands: ["*"], cacheTtlMs: 1 }, { watch: false });
    expect((await discovery.get("puruto-a"))?.commands).not.toContain("sync");

    await writeSkill(dir, "sync", { run: "#!/bin/sh\necho '{}'\n" });
    let commands: string[] = [];
    for (let attempt = 0; attempt < 40 && !commands.includes("sync"); attempt++) {
      await new Promise((r) => setTimeout(r, 25));
      commands = (await discovery.get("puruto-a"))?.commands ?? [];
    }

    expect(commands).toContain("sync");
  });
});
