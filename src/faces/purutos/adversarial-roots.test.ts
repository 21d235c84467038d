// Adversarial (issue 10 §5): registry entries are honoured where they point only under a configured root — the
// scan roots (GATEHOUSE_ECOSYSTEM_ROOT is a list) and the parent of PURUTO_DATA_PATH, the seed's layout where
// purutos are siblings of puruto-data. Hostile entries (absolute paths elsewhere, `..`, symlinks leaving the
// roots, Gatehouse's own data dir) are refused and reported; `/health` shows none of those paths.
import { mkdir, realpath, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { purutosConfigFromEnv } from "./config";
import { createDiscovery, type Discovery, withoutPaths } from "./discovery";
import { removeDir, tempDir, writePuruto } from "./testing";

let base: string;
const opened: Discovery[] = [];

beforeEach(async () => {
  base = await realpath(await tempDir("gatehouse-roots-"));
});
afterEach(async () => {
  for (const d of opened.splice(0)) d.close();
  await removeDir(base);
});

/** Discovery from the environment, as the server builds it. */
function discoverFromEnv(env: Record<string, string>, cwd = base): Discovery {
  const d = createDiscovery(purutosConfigFromEnv(env, cwd), { watch: false, statIntervalMs: 0 });
  opened.push(d);
  return d;
}

async function registry(dataDir: string, purutos: unknown[]): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, "registry.json"), JSON.stringify({ purutos }));
}

describe("registry roots", () => {
  it("honours entries next to puruto-data (the seed's layout) even when the scan root is elsewhere", async () => {
    const scan = path.join(base, "scan");
    const siblings = path.join(base, "siblings");
    await writePuruto(scan, "puruto-scanned");
    const sibling = await writePuruto(siblings, "puruto-sibling");
    await writePuruto(siblings, "money");
    await registry(path.join(siblings, "puruto-data"), [
      { name: "puruto-sibling", path: sibling },
      { name: "puruto-money", folder: "money" },
    ]);

    const d = discoverFromEnv({ GATEHOUSE_ECOSYSTEM_ROOT: scan, PURUTO_DATA_PATH: path.join(siblings, "puruto-data") });

    expect((await d.list()).map((p) => [p.name, p.path, p.source])).toEqual([
      ["puruto-money", path.join(siblings, "money"), "registry"],
      ["puruto-scanned", path.join(scan, "puruto-scanned"), "scan"],
      ["puruto-sibling", sibling, "registry"],
    ]);
  });

  it("scans every root of a GATEHOUSE_ECOSYSTEM_ROOT list (`:` or `,`), the first one winning a name clash", async () => {
    const a = path.join(base, "a");
    const b = path.join(base, "b");
    await writePuruto(a, "puruto-one");
    await writePuruto(b, "puruto-two");
    await writePuruto(b, "puruto-one");
    for (const list of [`${a}:${b}`, `${a}, ${b}`]) {
      const d = discoverFromEnv({ GATEHOUSE_ECOSYSTEM_ROOT: list });
      expect((await d.list()).map((p) => [p.name, p.path])).toEqual([
        ["puruto-one", path.join(a, "puruto-one")],
        ["puruto-two", path.join(b, "puruto-two")],
      ]);
      expect((await d.snapshot()).sources).toEqual([`scan:${a}`, `scan:${b}`]);
    }
  });

  it("refuses every hostile location and reports it; none of them becomes a puruto", async () => {
    const eco = path.join(base, "eco");
    const outside = path.join(base, "outside");
    await writePuruto(outside, "puruto-evil");
    await mkdir(eco, { recursive: true });
    await symlink(path.join(outside, "puruto-evil"), path.join(eco, "innocent-link"));
    const gatehouseData = path.join(eco, "gatehouse-data");
    await mkdir(gatehouseData, { recursive: true });
    await writeFile(path.join(gatehouseData, "secret"), "s3cret");
    const hostile = [
      { name: "puruto-abs", path: path.join(outside, "puruto-evil") },
      { name: "puruto-etc", path: "/etc" },
      { name: "puruto-slash", path: "/" },
      { name: "puruto-dotdot", folder: "../outside/puruto-evil" },
      { name: "puruto-deep-dotdot", folder: "a/../../../../../../etc" },
      { name: "puruto-link", folder: "innocent-link" },
      { name: "puruto-gatehouse", path: gatehouseData },
      { name: "puruto-eco-itself", folder: "." },
      { name: "puruto-nul", path: "/etc\u0000" },
    ];
    await registry(path.join(eco, "puruto-data"), hostile);

    const d = discoverFromEnv(
      {
        GATEHOUSE_ECOSYSTEM_ROOT: eco,
        PURUTO_DATA_PATH: path.join(eco, "puruto-data"),
        GATEHOUSE_DATA_DIR: gatehouseData,
      },
      base,
    );
    const items = await d.list();
    for (const entry of hostile) expect(items.find((p) => p.name === entry.name)?.path ?? null, entry.name).toBeNull();
    const { problems } = await d.snapshot();
    expect(problems.filter((p) => p.includes("outside the ecosystem roots")).length).toBeGreaterThanOrEqual(5);
    expect(problems.some((p) => p.includes("holds Gatehouse's data dir"))).toBe(true);
  });

  it('a scanned puruto-* symlink to the ecosystem root itself is refused, as the registry\'s `folder: "."` is', async () => {
    // Otherwise the whole root became one puruto: its skills could be symlinks to any other puruto's SKILL.md,
    // `run` or .env.example, all "inside" it, and run under its name with the root as working directory.
    const eco = path.join(base, "eco");
    await writePuruto(eco, "puruto-real");
    await symlink(".", path.join(eco, "puruto-self"));
    await symlink(eco, path.join(eco, "puruto-self-abs"));

    const d = discoverFromEnv({ GATEHOUSE_ECOSYSTEM_ROOT: eco });

    expect((await d.list()).map((p) => p.name)).toEqual(["puruto-real"]);
    const { problems } = await d.snapshot();
    expect(problems.filter((p) => p.includes("points at the ecosystem root itself")).length).toBe(2);
  });

  it("a registry entry naming another root (a nested scan root, the data folder's parent) is refused", async () => {
    // `folder: "."` was refused, but only against the root the entry lay under: a root nested in another one was
    // honoured as a puruto, and every puruto in it became files "inside" that one puruto.
    const eco = path.join(base, "eco");
    const nested = path.join(eco, "team");
    const group = path.join(eco, "group");
    await writePuruto(nested, "puruto-team-a");
    await writePuruto(group, "puruto-group-a");
    await registry(path.join(group, "puruto-data"), [
      { name: "puruto-nested-root", folder: "team" },
      { name: "puruto-data-parent", path: group },
      { name: "puruto-fine", folder: "team/puruto-team-a" },
    ]);

    const d = discoverFromEnv({
      GATEHOUSE_ECOSYSTEM_ROOT: `${eco}:${nested}`,
      PURUTO_DATA_PATH: path.join(group, "puruto-data"),
    });

    const items = await d.list();
    const byName = new Map(items.map((p) => [p.name, p]));
    // Refused, not missing: neither is listed.
    expect(byName.get("puruto-nested-root")).toBeUndefined();
    expect(byName.get("puruto-data-parent")).toBeUndefined();
    expect(byName.get("puruto-fine")).toMatchObject({ path: path.join(nested, "puruto-team-a"), source: "registry" });
    expect(byName.get("puruto-team-a")).toMatchObject({ source: "scan" });
    const { problems } = await d.snapshot();
    expect(problems.filter((p) => p.includes("is an ecosystem root, not a puruto")).length).toBe(2);
  });

  it("a data folder at the top of the file system does not make `/` a root", async () => {
    // PURUTO_DATA_PATH=/x → its parent is `/`; an entry under it would be honoured if `/` were a root.
    const d = createDiscovery(
      { ...purutosConfigFromEnv({ GATEHOUSE_ECOSYSTEM_ROOT: base }, base), dataPath: "/nonexistent-gatehouse-data" },
      { watch: false, statIntervalMs: 0 },
    );
    opened.push(d);
    expect(await d.list()).toEqual([]);
    expect((await d.snapshot()).problems.join("\n")).toContain("the file system root is never a puruto root");
  });
});

describe("what /health may show", () => {
  it("cuts every path, absolute or relative, to its last segment, and shows a repeated problem once", () => {
    const shown = withoutPaths({
      purutos: 2,
      sources: ["registry:/home/alice/purutos/puruto-data/registry.json", "scan:/home/alice/purutos"],
      problems: [
        "/srv/eco: ecosystem root not found",
        'registry entry "puruto-x": /etc/shadow is outside the ecosystem roots, ignored',
        "/home/alice/purutos/puruto-a/.claude/skills/x/SKILL.md: broken front matter (line 3)",
        'registry entry "puruto-rel": ../../../../etc is outside the ecosystem roots, ignored',
        'registry entry "puruto-rel": ../../../../etc is outside the ecosystem roots, ignored',
        'registry entry "puruto-sub": data/private/x is outside the ecosystem roots, ignored',
      ],
    });
    expect(shown).toEqual({
      purutos: 2,
      sources: ["registry:…/registry.json", "scan:…/purutos"],
      problems: [
        "…/eco: ecosystem root not found",
        'registry entry "puruto-x": …/shadow is outside the ecosystem roots, ignored',
        "…/SKILL.md: broken front matter (line 3)",
        'registry entry "puruto-rel": …/etc is outside the ecosystem roots, ignored',
        'registry entry "puruto-sub": …/x is outside the ecosystem roots, ignored',
      ],
    });
    expect(JSON.stringify(shown)).not.toMatch(/(?<!…)\/[a-z]/);
  });
});
