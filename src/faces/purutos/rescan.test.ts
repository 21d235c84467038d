// The background rebuild (every GATEHOUSE_DISCOVERY_TTL_MS) re-opened and re-parsed every README.md, SKILL.md,
// .puruto-standard-version and registry.json of the ecosystem, with nothing changed. These tests count the files
// discovery opens (node:fs/promises `open`, spied) and check that a rescan opens only what changed, sees every
// change, and judges a file swapped for a symlink or a FIFO exactly as a cold build does.
import { execFileSync } from "node:child_process";
import { mkdir, realpath, rename, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const spy = vi.hoisted(() => ({ opened: [] as string[] }));

vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  const open: typeof actual.open = (file, ...rest) => {
    spy.opened.push(String(file));
    return actual.open(file, ...rest);
  };
  return { ...actual, open, default: { ...actual, open } };
});

import { createDiscovery, type Discovery, type DiscoveryOptions } from "./discovery";
import { removeDir, tempDir, testConfig, writePuruto, writeSkill } from "./testing";

let root: string;
let data: string;
let outside: string;
const started: Discovery[] = [];

beforeEach(async () => {
  root = await realpath(await tempDir());
  outside = await realpath(await tempDir("gatehouse-outside-"));
  data = path.join(root, "puruto-data");
  for (let i = 0; i < 20; i++) await writePuruto(root, `puruto-n${String(i).padStart(2, "0")}`);
  await writePuruto(root, "puruto-data");
  await writeRegistry({ purutos: [{ name: "puruto-n00", folder: "puruto-n00", kind: "puruto-cron" }] });
});

afterEach(async () => {
  for (const d of started.splice(0)) d.close();
  await removeDir(root);
  await removeDir(outside);
});

async function writeRegistry(doc: unknown): Promise<void> {
  await writeFile(path.join(data, "registry.json"), JSON.stringify(doc));
}

/** racyWindowMs 0: files written a moment ago may be reused (the racy-write rule has its own test). */
function discover(options: DiscoveryOptions = { racyWindowMs: 0 }): Discovery {
  const discovery = createDiscovery(testConfig({ ecosystemRoot: root, dataPath: data, extraCommands: ["*"] }), {
    watch: false,
    ...options,
  });
  started.push(discovery);
  return discovery;
}

/** What a rescan of `discovery` shows, and the files it opened to get there. */
async function rescan(discovery: Discovery) {
  spy.opened.length = 0;
  await discovery.refresh();
  return { items: await discovery.list(), problems: (await discovery.snapshot()).problems, opened: [...spy.opened] };
}

/** What a discovery that never scanned before shows now: the judgement a rescan must agree with. */
async function coldView() {
  const cold = discover();
  return { items: await cold.list(), problems: (await cold.snapshot()).problems };
}

describe("rescan of an unchanged ecosystem", () => {
  it("opens no file and gives the same purutos", async () => {
    const discovery = discover();
    const first = await rescan(discovery);
    expect(first.opened.length).toBeGreaterThan(21 * 6); // README, version and 4 SKILL.md each, plus the registry

    const again = await rescan(discovery);

    expect(again.opened).toEqual([]);
    expect(again.items).toEqual(first.items);
    expect(again.items.find((p) => p.name === "puruto-n00")?.kind).toBe("puruto-cron");
  });

  it("keeps reporting a broken SKILL.md without reading it again", async () => {
    await writeSkill(path.join(root, "puruto-n01"), "broken", { raw: "no front matter here\n" });
    const discovery = discover();
    await rescan(discovery);

    const again = await rescan(discovery);

    expect(again.opened).toEqual([]);
    expect(again.problems.some((p) => p.includes("broken/SKILL.md: no YAML front matter"))).toBe(true);
  });
});

describe("rescan after a change", () => {
  it("re-reads only a rewritten README and shows its new description", async () => {
    const discovery = discover();
    await rescan(discovery);
    const readme = path.join(root, "puruto-n03", "README.md");
    await writeFile(readme, "# n03\n\nA longer description than before.\n");

    const after = await rescan(discovery);

    expect(after.opened).toEqual([readme]);
    expect(after.items.find((p) => p.name === "puruto-n03")?.description).toBe("A longer description than before.");
  });

  it("re-reads a rewritten SKILL.md, and sees a new skill and a removed one", async () => {
    const discovery = discover();
    await rescan(discovery);
    const dir = path.join(root, "puruto-n04");
    await writeSkill(dir, "help", { description: "Help, rewritten at length" });
    await writeSkill(dir, "sync", { description: "Sync", run: "#!/bin/sh\necho '{}'\n" });
    await rm(path.join(dir, ".claude", "skills", "list"), { recursive: true });

    const after = await rescan(discovery);

    const skills = after.items.find((p) => p.name === "puruto-n04")?.skills ?? [];
    expect(skills.map((s) => [s.command, s.description])).toEqual([
      ["help", "Help, rewritten at length"],
      ["init", "Base init"],
      ["status", "Base status"],
      ["sync", "Sync"],
    ]);
    expect(after.items.find((p) => p.name === "puruto-n04")?.commands).toContain("sync");
    expect(after.opened.sort()).toEqual([
      path.join(dir, ".claude", "skills", "help", "SKILL.md"),
      path.join(dir, ".claude", "skills", "sync", "SKILL.md"),
    ]);
  });

  it("re-reads a rewritten registry.json", async () => {
    const discovery = discover();
    await rescan(discovery);
    await writeRegistry({ purutos: [{ name: "puruto-n00", folder: "puruto-n00", kind: "puruto-gateway" }] });

    const after = await rescan(discovery);

    expect(after.opened).toEqual([path.join(data, "registry.json")]);
    expect(after.items.find((p) => p.name === "puruto-n00")?.kind).toBe("puruto-gateway");
  });

  it("sees a new puruto and forgets a removed one", async () => {
    const discovery = discover();
    await rescan(discovery);
    await writePuruto(root, "puruto-new");
    await rm(path.join(root, "puruto-n05"), { recursive: true });

    const after = await rescan(discovery);

    const names = after.items.map((p) => p.name);
    expect(names).toContain("puruto-new");
    expect(names).not.toContain("puruto-n05");
    expect(after.opened.every((file) => file.startsWith(path.join(root, "puruto-new")))).toBe(true);
  });

  it("sees a puruto moved back in place of another (same paths, other files)", async () => {
    const discovery = discover();
    await rescan(discovery);
    await writePuruto(outside, "puruto-n06", { readme: "# n06\n\nThe replacement.\n" });
    await rename(path.join(root, "puruto-n06"), path.join(outside, "old"));
    await rename(path.join(outside, "puruto-n06"), path.join(root, "puruto-n06"));

    const after = await rescan(discovery);

    expect(after.items.find((p) => p.name === "puruto-n06")?.description).toBe("The replacement.");
  });

  it("sees a same-size rewrite made right after a scan (racy write: a fresh file is not reused)", async () => {
    const discovery = discover({}); // the default racy window
    await rescan(discovery);
    const readme = path.join(root, "puruto-n07", "README.md");
    await writeFile(readme, "# n07\n\nFirst text.\n");
    await rescan(discovery);
    await writeFile(readme, "# n07\n\nOther text.\n"); // same size, most likely the same timestamp tick

    const after = await rescan(discovery);

    expect(after.items.find((p) => p.name === "puruto-n07")?.description).toBe("Other text.");
  });
});

describe("rescan of a file swapped for a symlink or a FIFO", () => {
  it("refuses a README.md and a SKILL.md swapped for symlinks out of the puruto, as a cold build does", async () => {
    const discovery = discover();
    await rescan(discovery);
    const dir = path.join(root, "puruto-n08");
    await writeFile(path.join(outside, "secret.md"), "# secret\n\nOutside text.\n");
    for (const file of [path.join(dir, "README.md"), path.join(dir, ".claude", "skills", "help", "SKILL.md")]) {
      await rm(file);
      await symlink(path.join(outside, "secret.md"), file);
    }

    const after = await rescan(discovery);

    const puruto = after.items.find((p) => p.name === "puruto-n08");
    expect(puruto?.description).toBeUndefined();
    expect(puruto?.skills.map((s) => s.command)).not.toContain("help");
    expect({ items: after.items, problems: after.problems }).toEqual(await coldView());
  });

  it("refuses a skills folder swapped for a symlink out of the puruto", async () => {
    const discovery = discover();
    await rescan(discovery);
    const dir = path.join(root, "puruto-n09");
    await rename(path.join(dir, ".claude"), path.join(outside, ".claude"));
    await symlink(path.join(outside, ".claude"), path.join(dir, ".claude"));

    const after = await rescan(discovery);

    expect(after.items.find((p) => p.name === "puruto-n09")?.skills).toEqual([]);
    expect({ items: after.items, problems: after.problems }).toEqual(await coldView());
  });

  it("refuses a registry.json swapped for a symlink out of the data folder", async () => {
    const discovery = discover();
    await rescan(discovery);
    await writeFile(path.join(outside, "registry.json"), JSON.stringify({ purutos: [{ name: "puruto-evil" }] }));
    await rm(path.join(data, "registry.json"));
    await symlink(path.join(outside, "registry.json"), path.join(data, "registry.json"));

    const after = await rescan(discovery);

    expect(after.items.map((p) => p.name)).not.toContain("puruto-evil");
    expect(after.items.find((p) => p.name === "puruto-n00")?.kind).toBe("standard");
    expect(after.problems.some((p) => p.includes("points outside the data folder"))).toBe(true);
    expect({ items: after.items, problems: after.problems }).toEqual(await coldView());
  });

  it("does not hang on, or use, a README.md and a registry.json swapped for FIFOs", async () => {
    const discovery = discover();
    await rescan(discovery);
    const fifos = [path.join(root, "puruto-n10", "README.md"), path.join(data, "registry.json")];
    for (const fifo of fifos) {
      await rm(fifo);
      execFileSync("mkfifo", [fifo]);
    }

    const after = await rescan(discovery);

    expect(after.items.find((p) => p.name === "puruto-n10")?.description).toBeUndefined();
    expect(after.items.find((p) => p.name === "puruto-n00")?.kind).toBe("standard");
    expect({ items: after.items, problems: after.problems }).toEqual(await coldView());
  });

  it("refuses a README.md swapped for a file over the size limit", async () => {
    const discovery = discover();
    await rescan(discovery);
    await writeFile(path.join(root, "puruto-n11", "README.md"), `# big\n\n${"x".repeat(300 * 1024)}\n`);

    const after = await rescan(discovery);

    expect(after.items.find((p) => p.name === "puruto-n11")?.description).toBeUndefined();
  });
});

describe("a puruto folder created after the first scan", () => {
  it("is read once, then reused", async () => {
    const discovery = discover();
    await rescan(discovery);
    await mkdir(path.join(root, "puruto-late"));
    await writePuruto(root, "puruto-late");
    expect((await rescan(discovery)).opened.length).toBeGreaterThan(0);

    expect((await rescan(discovery)).opened).toEqual([]);
  });
});
