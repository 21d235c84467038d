// Discovery of purutos, cached.
//
// Sources, in the seed's priority:
//   1. PURUTO_DATA_PATH/registry.json (when PURUTO_DATA_PATH is set);
//   2. `puruto-*` folders under the ecosystem root.
// Our decisions where the seed is silent:
//   - Both sources are MERGED (an empty or partial registry does not hide folders on disk); on a name clash the
//     registry entry wins, and `source` says where each item came from.
//   - A registry entry is resolved to a real folder: `path`, then `folder` (puruto-data writes this), then its
//     name, each relative to the ecosystem root. `path` is null only when no candidate exists.
//   - Folders (and symlinks) whose real path escapes the ecosystem root are never used.
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
  "dataPath" | "ecosystemRoot" | "extraCommands" | "agentCommand" | "cacheTtlMs"
>;

const READ_CONCURRENCY = 32;

export function inferKind(name: string): string {
  return KNOWN_KINDS.find((kind) => name === kind || name.startsWith(`${kind}-`)) ?? "standard";
}

export function createDiscovery(config: DiscoveryConfig, options: DiscoveryOptions = {}): Discovery {
  const statIntervalMs = options.statIntervalMs ?? 200;
  const registryPath = config.dataPath ? registryFile(config.dataPath) : null;
  let index: Index | null = null;
  let building: Promise<Index> | null = null;
  let dirty = false;
  let lastStatAt = 0;
  const watchers: FSWatcher[] = [];

  if (options.watch !== false) {
    watchFolder(config.ecosystemRoot);
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
    const paths = [config.ecosystemRoot, ...(registryPath ? [path.dirname(registryPath), registryPath] : [])];
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

    let realRoot: string | null = null;
    try {
      realRoot = await realpath(config.ecosystemRoot);
    } catch {
      problems.push(`${config.ecosystemRoot}: ecosystem root not found`);
    }

    if (registryPath) {
      const registry = await readRegistry(registryPath);
      problems.push(...registry.problems);
      if (registry.found) sources.push(`registry:${registryPath}`);
      for (const entry of registry.entries) {
        const dir = realRoot ? await resolveRegistryFolder(realRoot, entry.name, entry.locations, problems) : null;
        found.set(entry.name, { name: entry.name, dir, kind: entry.kind, source: "registry" });
      }
    }

    if (realRoot) {
      sources.push(`scan:${config.ecosystemRoot}`);
      for (const folder of await scanRoot(realRoot, problems)) {
        if (!found.has(folder.name)) found.set(folder.name, { ...folder, source: "scan" });
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

/** First location that resolves to a folder inside the root; an escaping one is reported, not used. */
async function resolveRegistryFolder(
  realRoot: string,
  name: string,
  locations: string[],
  problems: string[],
): Promise<string | null> {
  for (const location of locations) {
    const candidate = path.resolve(realRoot, location);
    const real = await realPathInside(realRoot, candidate);
    if (real === null) {
      if (await exists(candidate))
        problems.push(`registry entry "${name}": ${location} is outside the ecosystem root, ignored`);
      continue;
    }
    if (await isDirectory(real)) return real;
  }
  return null;
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

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
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
