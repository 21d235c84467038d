// Discovery of purutos, cached.
//
// Sources, in the seed's priority:
//   1. PURUTO_DATA_PATH/registry.json (when PURUTO_DATA_PATH is set);
//   2. `puruto-*` folders under the ecosystem root.
// Our decisions where the seed is silent:
//   - Both sources are MERGED (an empty or partial registry does not hide folders on disk); on a name clash the
//     registry entry wins, and `source` says where each item came from.
//   - A registry entry is resolved to a real folder: `path`, then `folder` (puruto-data writes this), then its
//     name; a relative one against each root in turn. `path` is null only when no candidate exists.
//   - Roots: every scan root (GATEHOUSE_ECOSYSTEM_ROOT is a list) and the parent of PURUTO_DATA_PATH (the seed's
//     layout: purutos are siblings of puruto-data). A registry entry is honoured where it points when its real
//     path lies under one of them; anything else — or Gatehouse's own data dir, or `/` as a root — is refused.
//   - Scanned folders (and symlinks) whose real path escapes their scan root are never used.
//   - `kind` comes from the registry entry if declared, else from the name.
//   - `commands` is the allow list (see allowlist.ts), computed from the real skills in `.claude/skills`.
//
// Cache: requests are served from memory. The index is rebuilt when (a) fs.watch reports a change in the root
// or the registry's folder, (b) a cheap stat of root + registry (at most every `statIntervalMs`) shows a new
// mtime — for filesystems where watch is unreliable — or (c) in the background after `cacheTtlMs`, which
// catches edits inside a puruto (a new skill). Rebuilds are single-flight.
import { watch, type FSWatcher } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { logger } from "../../core/log/logger";
import { allowedCommands } from "./allowlist";
import type { PurutosConfig } from "./config";
import { isInside, realPathInside } from "./containment";
import { isPlainName, isPurutoFolderName } from "./names";
import { readRegistry, registryFile } from "./registry";
import { readRepo, type SkillInfo } from "./repo";

const log = logger.child({ module: "purutos" });

export const KNOWN_KINDS = ["puruto-data", "puruto-telegram", "puruto-cron", "puruto-gateway"] as const;

export interface Puruto {
  name: string;
  /** Real folder, or null when a registry entry's folder does not exist. */
  path: string | null;
  kind: string;
  source: "registry" | "scan";
  /** Allowed commands: base four ∪ allowed, executable skills. */
  commands: string[];
  skills: SkillInfo[];
  description?: string | undefined;
  standardVersion?: string | undefined;
}

export interface DiscoverySnapshot {
  purutos: number;
  sources: string[];
  problems: string[];
}

export interface Discovery {
  list(): Promise<Puruto[]>;
  /** undefined for unknown names and for names that are not plain folder names. */
  get(name: string): Promise<Puruto | undefined>;
  /** For GET /health. */
  snapshot(): Promise<DiscoverySnapshot>;
  /** Forces a rebuild now (tests, admin). */
  refresh(): Promise<void>;
  /** Stops the watchers. */
  close(): void;
}

export interface DiscoveryOptions {
  /** Minimum ms between two stat checks of root + registry. */
  statIntervalMs?: number;
  /** Use fs.watch (default true). */
  watch?: boolean;
}

interface Index {
  items: Puruto[];
  byName: Map<string, Puruto>;
  sources: string[];
  problems: string[];
  fingerprint: string;
  builtAt: number;
}

type DiscoveryConfig = Pick<
  PurutosConfig,
  "dataPath" | "ecosystemRoot" | "ecosystemRoots" | "forbidden" | "extraCommands" | "agentCommand" | "cacheTtlMs"
>;

const READ_CONCURRENCY = 32;

export function inferKind(name: string): string {
  return KNOWN_KINDS.find((kind) => name === kind || name.startsWith(`${kind}-`)) ?? "standard";
}

export function createDiscovery(config: DiscoveryConfig, options: DiscoveryOptions = {}): Discovery {
  const statIntervalMs = options.statIntervalMs ?? 200;
  const registryPath = config.dataPath ? registryFile(config.dataPath) : null;
  const scanRoots = config.ecosystemRoots?.length ? config.ecosystemRoots : [config.ecosystemRoot];
  // The seed's layout: puruto-data and the purutos it registers are siblings.
  const dataParent = config.dataPath ? path.dirname(path.dirname(registryFile(config.dataPath))) : null;
  let index: Index | null = null;
  let building: Promise<Index> | null = null;
  let dirty = false;
  let lastStatAt = 0;
  const watchers: FSWatcher[] = [];

  if (options.watch !== false) {
    for (const root of scanRoots) watchFolder(root);
    if (registryPath) watchFolder(path.dirname(registryPath));
  }

  function watchFolder(folder: string): void {
    try {
      const watcher = watch(folder, { persistent: false }, () => {
        dirty = true;
      });
      watcher.on("error", () => {
        // The folder vanished or the watch broke: the stat check still catches changes.
        dirty = true;
      });
      watchers.push(watcher);
    } catch {
      // Folder absent at startup (reported as a problem by the build) or watch unsupported.
    }
  }

  /** mtime/size of the root and registry: changes whenever a folder or the registry is added or rewritten. */
  async function fingerprint(): Promise<string> {
    const paths = [...scanRoots, ...(registryPath ? [path.dirname(registryPath), registryPath] : [])];
    const parts = await Promise.all(
      paths.map(async (p) => {
        try {
          const s = await stat(p);
          return `${s.mtimeMs}:${s.size}:${s.ino}`;
        } catch {
          return "absent";
        }
      }),
    );
    return parts.join("|");
  }

  function rebuild(): Promise<Index> {
    if (building) return building;
    dirty = false;
    building = (async () => {
      try {
        const next = await build();
        if (index === null || next.problems.join("\n") !== index.problems.join("\n")) {
          for (const problem of next.problems) log.warn({ problem }, "discovery problem");
        }
        index = next;
        lastStatAt = Date.now();
        return next;
      } finally {
        building = null;
      }
    })();
    return building;
  }

  async function build(): Promise<Index> {
    const fp = await fingerprint(); // taken first: a change during the build is seen by the next check
    const problems: string[] = [];
    const sources: string[] = [];
    const found = new Map<
      string,
      { name: string; dir: string | null; kind?: string | undefined; source: "registry" | "scan" }
    >();

    const realScanRoots: string[] = [];
    const scanSources: string[] = [];
    for (const root of scanRoots) {
      const real = await realOrNull(root);
      if (real === null) problems.push(`${root}: ecosystem root not found`);
      else if (!realScanRoots.includes(real)) {
        realScanRoots.push(real);
        scanSources.push(`scan:${root}`);
      }
    }
    const registryRoots = await honouredRoots(realScanRoots, dataParent, problems);
    const forbidden = (
      await Promise.all((config.forbidden ?? []).map((dir) => realOrNull(dir).then((r) => r ?? dir)))
    ).filter(Boolean);

    if (registryPath) {
      const registry = await readRegistry(registryPath);
      problems.push(...registry.problems);
      if (registry.found) sources.push(`registry:${registryPath}`);
      for (const entry of registry.entries) {
        const dir = await resolveRegistryFolder(registryRoots, forbidden, entry.name, entry.locations, problems);
        found.set(entry.name, { name: entry.name, dir, kind: entry.kind, source: "registry" });
      }
    }

    sources.push(...scanSources);
    for (const realRoot of realScanRoots) {
      for (const folder of await scanRoot(realRoot, problems)) {
        if (found.has(folder.name)) continue;
        if (forbidden.some((f) => isInside(folder.dir, f) || isInside(f, folder.dir))) {
          problems.push(`${folder.dir}: holds Gatehouse's data dir, ignored`);
          continue;
        }
        found.set(folder.name, { ...folder, source: "scan" });
      }
    }

    const items = await mapLimit([...found.values()], READ_CONCURRENCY, async (entry): Promise<Puruto> => {
      const repo = entry.dir ? await readRepo(entry.dir) : { skills: [], problems: [] as string[] };
      problems.push(...repo.problems);
      return {
        name: entry.name,
        path: entry.dir,
        kind: entry.kind ?? inferKind(entry.name),
        source: entry.source,
        commands: allowedCommands(repo.skills, config),
        skills: repo.skills,
        description: "description" in repo ? repo.description : undefined,
        standardVersion: "standardVersion" in repo ? repo.standardVersion : undefined,
      };
    });
    items.sort((a, b) => a.name.localeCompare(b.name));
    return {
      items,
      byName: new Map(items.map((item) => [item.name, item])),
      sources,
      problems,
      fingerprint: fp,
      builtAt: Date.now(),
    };
  }

  async function current(): Promise<Index> {
    if (index === null || dirty) return rebuild();
    const now = Date.now();
    if (now - lastStatAt >= statIntervalMs) {
      lastStatAt = now;
      if ((await fingerprint()) !== index.fingerprint) return rebuild();
    }
    if (now - index.builtAt >= config.cacheTtlMs && !building) {
      rebuild().catch((err) => log.error({ err }, "background discovery rebuild failed"));
    }
    return index;
  }

  return {
    async list() {
      return (await current()).items;
    },
    async get(name) {
      if (!isPlainName(name)) return undefined;
      return (await current()).byName.get(name);
    },
    async snapshot() {
      const { items, sources, problems } = await current();
      return { purutos: items.length, sources: [...sources], problems: [...problems] };
    },
    async refresh() {
      dirty = true;
      await rebuild();
    },
    close() {
      for (const watcher of watchers.splice(0)) watcher.close();
    },
  };
}

/** An absolute path inside a message: `/` then anything up to a space, quote, colon, comma or bracket. */
const ABSOLUTE_PATH = /(?<![\w.~])\/[^\s"'`:,()[\]]*/g;

/**
 * The snapshot as anyone may see it (GET /health is open): every absolute path is cut to its last segment
 * (`…/puruto-x`), so an anonymous caller learns no folder layout, user name or data-dir location. The full
 * problems stay in the log.
 */
export function withoutPaths(snapshot: DiscoverySnapshot): DiscoverySnapshot {
  const cut = (text: string) => text.replace(ABSOLUTE_PATH, (p) => `…/${path.basename(p)}`);
  return { purutos: snapshot.purutos, sources: snapshot.sources.map(cut), problems: snapshot.problems.map(cut) };
}

/**
 * The roots registry entries may point under: the scan roots and the parent of the data folder, as real paths.
 * `/` is never one (a data folder at the top of the file system would otherwise open every path).
 */
async function honouredRoots(realScanRoots: string[], dataParent: string | null, problems: string[]) {
  const roots = [...realScanRoots];
  const realDataParent = dataParent ? await realOrNull(dataParent) : null;
  if (realDataParent !== null && !roots.includes(realDataParent)) roots.push(realDataParent);
  return roots.filter((root) => {
    if (path.dirname(root) !== root) return true;
    problems.push(`${root}: the file system root is never a puruto root, ignored`);
    return false;
  });
}

/**
 * First location that resolves to a folder under one of the roots (a relative one is tried against each root in
 * turn); one that points elsewhere, or at Gatehouse's data dir, is reported and not used.
 */
async function resolveRegistryFolder(
  realRoots: string[],
  forbidden: string[],
  name: string,
  locations: string[],
  problems: string[],
): Promise<string | null> {
  for (const location of locations) {
    const candidates = path.isAbsolute(location) ? [location] : realRoots.map((root) => path.resolve(root, location));
    for (const candidate of candidates) {
      const real = await realOrNull(candidate);
      if (real === null) continue;
      // Strictly under a root: the root itself (e.g. `folder: "."`) is a folder of purutos, not one.
      if (!realRoots.some((root) => real !== root && isInside(root, real))) {
        problems.push(`registry entry "${name}": ${location} is outside the ecosystem roots, ignored`);
        continue;
      }
      if (forbidden.some((f) => isInside(real, f) || isInside(f, real))) {
        problems.push(`registry entry "${name}": ${location} holds Gatehouse's data dir, ignored`);
        continue;
      }
      if (await isDirectory(real)) return real;
    }
  }
  return null;
}

async function realOrNull(p: string): Promise<string | null> {
  try {
    return await realpath(p);
  } catch {
    return null;
  }
}

/** `puruto-*` folders (or symlinks to folders) directly under the root whose real path stays inside it. */
async function scanRoot(realRoot: string, problems: string[]): Promise<{ name: string; dir: string }[]> {
  let entries;
  try {
    entries = await readdir(realRoot, { withFileTypes: true });
  } catch (err) {
    problems.push(`${realRoot}: cannot list the ecosystem root (${(err as NodeJS.ErrnoException).code ?? err})`);
    return [];
  }
  const folders = await Promise.all(
    entries
      .filter((entry) => isPurutoFolderName(entry.name) && (entry.isDirectory() || entry.isSymbolicLink()))
      .map(async (entry) => {
        const candidate = path.join(realRoot, entry.name);
        if (entry.isDirectory()) return { name: entry.name, dir: candidate };
        const real = await realPathInside(realRoot, candidate);
        if (real === null || !isInside(realRoot, real)) {
          problems.push(`${candidate}: symlink points outside the ecosystem root (or nowhere), ignored`);
          return null;
        }
        return (await isDirectory(real)) ? { name: entry.name, dir: real } : null;
      }),
  );
  return folders.filter((f): f is { name: string; dir: string } => f !== null);
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  // One iterator shared by the workers: each takes the next item when it is free.
  const queue = items.entries();
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (const [i, item] of queue) results[i] = await fn(item);
  });
  await Promise.all(workers);
  return results;
}
