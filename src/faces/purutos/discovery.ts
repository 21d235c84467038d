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
//     path lies strictly under one of them; anything else — a root itself, Gatehouse's own data dir, `/` as a root —
//     is refused.
//   - Scanned folders (and symlinks) whose real path escapes their scan root are never used.
//   - Directories (a root, a puruto's `.claude/skills`) are read as a stream, at most MAX_DIRECTORY_ENTRIES
//     entries each, in the file system's order; a cut directory is reported (directory.ts).
//   - `kind` comes from the registry entry if declared, else from the name.
//   - `commands` is the allow list (see allowlist.ts), computed from the real skills in `.claude/skills`.
//
// Cache: requests are served from memory. The index is rebuilt when (a) fs.watch reports a change in the root
// or the registry's folder, (b) a cheap stat of root + registry (at most every `statIntervalMs`) shows a new
// mtime — for filesystems where watch is unreliable — or (c) in the background after `cacheTtlMs`, which
// catches edits inside a puruto (a new skill). Rebuilds are single-flight, and cheap when little changed: each file
// is probed first and only re-read and re-parsed when its probe changed (read-cache.ts).
//
// The build itself (roots, registry, scan, reading each repo) is in scan.ts; this module is the cache around it.
import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { logger } from "../../core/log/logger";
import { visibly } from "../../core/policy/clip";
import { bareCommandWarnings } from "./config";
import { isPlainName } from "./names";
import { ReadCache } from "./read-cache";
import { buildIndex, type DiscoveryConfig, discoverySources, type Index, type Puruto } from "./scan";

export { KNOWN_KINDS } from "./names";
// Callers have always imported the puruto from here.
export type { Puruto } from "./scan";
export { inferKind } from "./scan";

const log = logger.child({ module: "purutos" });

export interface DiscoverySnapshot {
  purutos: number;
  sources: string[];
  problems: string[];
}

export interface Discovery {
  list(): Promise<Puruto[]>;
  /** undefined for unknown names and for names that are not plain folder names. */
  get(name: string): Promise<Puruto | undefined>;
  /** For GET /health: one object per index, shared by every caller (read it, do not change it). */
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
  /** See read-cache.ts (tests set 0 to see reuse without waiting). */
  racyWindowMs?: number | undefined;
}

export function createDiscovery(config: DiscoveryConfig, options: DiscoveryOptions = {}): Discovery {
  const statIntervalMs = options.statIntervalMs ?? 200;
  for (const warning of bareCommandWarnings(config.extraCommands)) log.warn(warning);
  const where = discoverySources(config);
  const { registryPath } = where;
  let index: Index | null = null;
  let building: Promise<Index> | null = null;
  let dirty = false;
  let lastStatAt = 0;
  // What each file read gave, for the next rebuild: an unchanged file is probed (realpath + stat), not re-read.
  const reads = new ReadCache({ racyWindowMs: options.racyWindowMs });
  const watchers =
    options.watch === false
      ? []
      : watchFolders([...where.scanRoots, ...(registryPath ? [path.dirname(registryPath)] : [])], () => {
          dirty = true;
        });
  // mtime/size of the root and registry: changes whenever a folder or the registry is added or rewritten.
  const fingerprint = () =>
    fingerprintOf([...where.scanRoots, ...(registryPath ? [path.dirname(registryPath), registryPath] : [])]);

  function rebuild(): Promise<Index> {
    if (building) return building;
    dirty = false;
    building = (async () => {
      try {
        // The fingerprint is taken first: a change during the build is seen by the next check.
        const next = await buildIndex(config, where, await fingerprint(), reads);
        reads.sweep();
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

  // One snapshot per index (GET /health asks on every call): shared by its callers, who must not change it.
  const snapshots = new WeakMap<Index, DiscoverySnapshot>();

  /**
   * The index to serve. Between two stat checks it is the one in memory, returned as is (not a promise): GET /purutos
   * then waits for no turn of the microtask queue here (issue #17).
   */
  function current(): Index | Promise<Index> {
    if (index === null || dirty) return rebuild();
    const now = Date.now();
    if (now - lastStatAt >= statIntervalMs) {
      lastStatAt = now;
      return checkedAgainstDisk(index, now);
    }
    return servedAt(index, now);
  }

  /** `seen` unless root or registry changed on disk (then a rebuild's index). */
  async function checkedAgainstDisk(seen: Index, now: number): Promise<Index> {
    if ((await fingerprint()) !== seen.fingerprint) return rebuild();
    return servedAt(index ?? seen, now);
  }

  /** `served`, starting a background rebuild when it is older than the TTL. */
  function servedAt(served: Index, now: number): Index {
    if (now - served.builtAt >= config.cacheTtlMs && !building) {
      rebuild().catch((err) => log.error({ err }, "background discovery rebuild failed"));
    }
    return served;
  }

  const itemsOf = (found: Index | Promise<Index>): Promise<Puruto[]> =>
    found instanceof Promise ? found.then((i) => i.items) : Promise.resolve(found.items);

  return {
    list: () => itemsOf(current()),
    async get(name) {
      if (!isPlainName(name)) return undefined;
      return (await current()).byName.get(name);
    },
    async snapshot() {
      const index = await current();
      let snapshot = snapshots.get(index);
      if (!snapshot) {
        snapshot = { purutos: index.items.length, sources: [...index.sources], problems: [...index.problems] };
        snapshots.set(index, snapshot);
      }
      return snapshot;
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

/** A watcher on each folder that can be watched; `onChange` on any event or watch error. */
function watchFolders(folders: string[], onChange: () => void): FSWatcher[] {
  const watchers: FSWatcher[] = [];
  for (const folder of folders) {
    try {
      const watcher = watch(folder, { persistent: false }, onChange);
      // The folder vanished or the watch broke: the stat check still catches changes.
      watcher.on("error", onChange);
      watchers.push(watcher);
    } catch {
      // Folder absent at startup (reported as a problem by the build) or watch unsupported.
    }
  }
  return watchers;
}

/** mtime, size and inode of each path ("absent" for a missing one), as one string. */
async function fingerprintOf(paths: string[]): Promise<string> {
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

/**
 * A path inside a message: absolute (`/` then anything up to a space, quote, colon, comma or bracket), or relative
 * with a folder in it (`../../etc`, `data/x`: a registry entry's location as written).
 */
const PATH_IN_TEXT = /(?<![\w.~/-])(?:\/|[\w.~-]+\/)[^\s"'`:,()[\]]*/g;

/**
 * The snapshot as anyone may see it (GET /health is open): every path is cut to its last segment
 * (`…/puruto-x`), so an anonymous caller learns no folder layout, user name or data-dir location. The full
 * problems stay in the log.
 */
export function withoutPaths(snapshot: DiscoverySnapshot): DiscoverySnapshot {
  let cutSnapshot = withoutPathsOf.get(snapshot);
  if (!cutSnapshot) {
    cutSnapshot = cutPaths(snapshot);
    withoutPathsOf.set(snapshot, cutSnapshot);
  }
  return cutSnapshot;
}

/** Per snapshot (one per index), its path-less copy: worked out once, not on every GET /health. */
const withoutPathsOf = new WeakMap<DiscoverySnapshot, DiscoverySnapshot>();

function cutPaths(snapshot: DiscoverySnapshot): DiscoverySnapshot {
  // A folder's name is anyone's choice: its control and format characters (a bidi override, a CSI) are shown as
  // `\u{…}` escapes (src/core/policy/clip.ts), as reasons and problem details show what a client sent.
  const cut = (text: string) => visibly(text.replace(PATH_IN_TEXT, (p) => `…/${path.basename(p)}`));
  // One problem seen under several roots (a registry entry tried against each) is shown once.
  const problems = [...new Set(snapshot.problems.map(cut))];
  return { purutos: snapshot.purutos, sources: snapshot.sources.map(cut), problems };
}
