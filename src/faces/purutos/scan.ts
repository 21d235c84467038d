// Building the discovery index: the scan roots and the registry resolved to real folders, then each puruto's
// repo read (skills, description). The rules (what is honoured, what is refused and why) are in discovery.ts's
// header; the cache around this build is there too.
import { realpath, stat } from "node:fs/promises";
import path from "node:path";
import { allowedCommands } from "./allowlist";
import { mapLimit } from "./concurrency";
import type { PurutosConfig } from "./config";
import { isInside, realPathInside } from "./containment";
import { cutProblem, listDirectory, MAX_DIRECTORY_ENTRIES } from "./directory";
import { isPurutoFolderName, KNOWN_KINDS } from "./names";
import { type FileReader, NO_CACHE } from "./read-cache";
import { boundedProblems, readRegistry, registryFile } from "./registry";
import { readRepo, type SkillInfo } from "./repo";

/** A discovered puruto, as the API lists it. */
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

export function inferKind(name: string): string {
  return KNOWN_KINDS.find((kind) => name === kind || name.startsWith(`${kind}-`)) ?? "standard";
}

export type DiscoveryConfig = Pick<
  PurutosConfig,
  | "dataPath"
  | "ecosystemRoot"
  | "ecosystemRoots"
  | "forbidden"
  | "extraCommands"
  | "agentCommand"
  | "cacheTtlMs"
  | "directoryEntryLimit"
>;

/** Where purutos are looked for, as configured (not yet resolved to real paths). */
export interface DiscoverySources {
  scanRoots: string[];
  registryPath: string | null;
  /** The parent of the data folder: registry entries may point under it. */
  dataParent: string | null;
}

export interface Index {
  items: Puruto[];
  byName: Map<string, Puruto>;
  sources: string[];
  problems: string[];
  fingerprint: string;
  builtAt: number;
}

/** A puruto found, before its repo is read. */
interface Entry {
  name: string;
  dir: string | null;
  kind?: string | undefined;
  source: "registry" | "scan";
  /** A registry entry's own `commands`: never an allow list; those it is not allowed are reported. */
  declared?: string[] | undefined;
}

/** The real roots a build works with. */
interface Roots {
  realScanRoots: string[];
  scanSources: string[];
  /** Where registry entries may point: see honouredRoots. */
  registryRoots: string[];
  /** Gatehouse's own data dirs (real paths): never a puruto, never inside one. */
  forbidden: string[];
}

const READ_CONCURRENCY = 32;

/** Problems an index keeps (logged and shown by GET /health, which anyone may call); the rest are counted. */
const MAX_INDEX_PROBLEMS = 200;

export function discoverySources(config: DiscoveryConfig): DiscoverySources {
  return {
    registryPath: config.dataPath ? registryFile(config.dataPath) : null,
    scanRoots: config.ecosystemRoots?.length ? config.ecosystemRoots : [config.ecosystemRoot],
    // The seed's layout: puruto-data and the purutos it registers are siblings.
    dataParent: config.dataPath ? path.dirname(path.dirname(registryFile(config.dataPath))) : null,
  };
}

/**
 * The index as the file system shows it now; `fingerprint` was taken before the build started. Files are read
 * through `reader` (discovery's ReadCache: unchanged files are not read again).
 */
export async function buildIndex(
  config: DiscoveryConfig,
  where: DiscoverySources,
  fingerprint: string,
  reader: FileReader = NO_CACHE,
): Promise<Index> {
  const problems: string[] = [];
  const sources: string[] = [];
  const roots = await resolveRoots(config, where, problems);
  const found = new Map<string, Entry>();

  if (where.registryPath) {
    const registry = await readRegistry(where.registryPath, reader);
    for (const problem of registry.problems) problems.push(problem);
    if (registry.found) sources.push(`registry:${where.registryPath}`);
    for (const entry of registry.entries) {
      const dir = await resolveRegistryFolder(
        roots.registryRoots,
        roots.forbidden,
        entry.name,
        entry.locations,
        problems,
      );
      // Refused, not missing: the entry is not a puruto at all (not listed, 404 like an unknown name).
      if (dir === REFUSED) {
        problems.push(`registry entry "${entry.name}": not listed, every folder it names was refused`);
        continue;
      }
      found.set(entry.name, { name: entry.name, dir, kind: entry.kind, source: "registry", declared: entry.commands });
    }
  }

  sources.push(...roots.scanSources);
  for (const realRoot of roots.realScanRoots) {
    for (const folder of await scanRoot(realRoot, entryLimit(config), problems)) {
      if (found.has(folder.name)) continue;
      // As for registry entries: a root is a folder of purutos, never one (a `puruto-x -> .` symlink made the whole
      // root a puruto, whose skills could then be symlinks to any other puruto's files, all "inside" it).
      if (roots.realScanRoots.includes(folder.dir) || roots.registryRoots.includes(folder.dir)) {
        problems.push(`${path.join(realRoot, folder.name)}: points at the ecosystem root itself, ignored`);
        continue;
      }
      if (roots.forbidden.some((f) => isInside(folder.dir, f) || isInside(f, folder.dir))) {
        problems.push(`${folder.dir}: holds Gatehouse's data dir, ignored`);
        continue;
      }
      found.set(folder.name, { ...folder, source: "scan" });
    }
  }

  const items = await readPurutos(config, [...found.values()], reader, problems);
  return {
    items,
    byName: new Map(items.map((item) => [item.name, item])),
    sources,
    problems: boundedProblems(problems, MAX_INDEX_PROBLEMS, "discovery"),
    fingerprint,
    builtAt: Date.now(),
  };
}

async function resolveRoots(config: DiscoveryConfig, where: DiscoverySources, problems: string[]): Promise<Roots> {
  const realScanRoots: string[] = [];
  const scanSources: string[] = [];
  for (const root of where.scanRoots) {
    const real = await realOrNull(root);
    if (real === null) problems.push(`${root}: ecosystem root not found`);
    else if (!realScanRoots.includes(real)) {
      realScanRoots.push(real);
      scanSources.push(`scan:${root}`);
    }
  }
  const registryRoots = await honouredRoots(realScanRoots, where.dataParent, problems);
  const forbidden = (
    await Promise.all((config.forbidden ?? []).map((dir) => realOrNull(dir).then((r) => r ?? dir)))
  ).filter(Boolean);
  return { realScanRoots, scanSources, registryRoots, forbidden };
}

/** Each entry's repo read (at most READ_CONCURRENCY at a time), sorted by name. */
async function readPurutos(
  config: DiscoveryConfig,
  entries: Entry[],
  reader: FileReader,
  problems: string[],
): Promise<Puruto[]> {
  const items = await mapLimit(entries, READ_CONCURRENCY, async (entry): Promise<Puruto> => {
    const repo = entry.dir
      ? await readRepo(entry.dir, reader, entryLimit(config))
      : { skills: [], problems: [] as string[] };
    for (const problem of repo.problems) problems.push(problem);
    const commands = allowedCommands(repo.skills, config, entry.name);
    const dropped = droppedCommands(entry, commands);
    if (dropped) problems.push(dropped);
    return {
      name: entry.name,
      path: entry.dir,
      kind: entry.kind ?? inferKind(entry.name),
      source: entry.source,
      commands,
      skills: repo.skills,
      description: "description" in repo ? repo.description : undefined,
      standardVersion: "standardVersion" in repo ? repo.standardVersion : undefined,
    };
  });
  items.sort((a, b) => a.name.localeCompare(b.name));
  return items;
}

/** Registry commands shown per entry in a problem (the rest counted). */
const MAX_DROPPED_SHOWN = 10;

/**
 * The registry entry's declared `commands` it is not allowed (a path, `sh`, a skill the operator did not allow), as
 * one problem; null when there are none. Nothing is ever allowed for being declared in the registry.
 */
function droppedCommands(entry: Entry, commands: string[]): string | null {
  const dropped = (entry.declared ?? []).filter((command) => !commands.includes(command));
  if (dropped.length === 0) return null;
  const shown = dropped
    .slice(0, MAX_DROPPED_SHOWN)
    .map((c) => JSON.stringify(c.length > 80 ? `${c.slice(0, 80)}…` : c))
    .join(", ");
  const more = dropped.length > MAX_DROPPED_SHOWN ? ` and ${dropped.length - MAX_DROPPED_SHOWN} more` : "";
  return (
    `registry entry "${entry.name}": commands ${shown}${more} ignored (only the base commands and skills ` +
    "GATEHOUSE_EXTRA_COMMANDS allows run)"
  );
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

/** What resolveRegistryFolder answers when no location was usable and at least one was refused. */
const REFUSED = Symbol("refused");

/**
 * First location that resolves to a folder under one of the roots (a relative one is tried against each root in
 * turn); one that points elsewhere, or at Gatehouse's data dir, is reported and not used. Null when no location
 * exists; REFUSED when none was usable and one existed but was refused.
 */
async function resolveRegistryFolder(
  realRoots: string[],
  forbidden: string[],
  name: string,
  locations: string[],
  problems: string[],
): Promise<string | null | typeof REFUSED> {
  let refused = false;
  for (const location of locations) {
    const candidates = path.isAbsolute(location) ? [location] : realRoots.map((root) => path.resolve(root, location));
    for (const candidate of candidates) {
      const real = await realOrNull(candidate);
      if (real === null) continue;
      if (!realRoots.some((root) => isInside(root, real))) {
        problems.push(`registry entry "${name}": ${location} is outside the ecosystem roots, ignored`);
        refused = true;
        continue;
      }
      // A root (e.g. `folder: "."`, or a scan root nested in another one) is a folder of purutos, never one: every
      // puruto in it would be files "inside" that one puruto, runnable under its name.
      if (realRoots.includes(real)) {
        problems.push(`registry entry "${name}": ${location} is an ecosystem root, not a puruto, ignored`);
        refused = true;
        continue;
      }
      if (forbidden.some((f) => isInside(real, f) || isInside(f, real))) {
        problems.push(`registry entry "${name}": ${location} holds Gatehouse's data dir, ignored`);
        refused = true;
        continue;
      }
      if (await isDirectory(real)) return real;
    }
  }
  return refused ? REFUSED : null;
}

async function realOrNull(p: string): Promise<string | null> {
  try {
    return await realpath(p);
  } catch {
    return null;
  }
}

function entryLimit(config: DiscoveryConfig): number {
  return config.directoryEntryLimit ?? MAX_DIRECTORY_ENTRIES;
}

/**
 * `puruto-*` folders (or symlinks to folders) directly under the root whose real path stays inside it, among the
 * first `limit` entries the file system lists (directory.ts); a root holding more is reported.
 */
async function scanRoot(realRoot: string, limit: number, problems: string[]): Promise<{ name: string; dir: string }[]> {
  let listing;
  const misnamed: string[] = [];
  try {
    listing = await listDirectory(realRoot, limit, (entry) => {
      if (isPurutoFolderName(entry.name)) return entry.isDirectory() || entry.isSymbolicLink();
      if (entry.name.startsWith("puruto-")) misnamed.push(entry.name);
      return false;
    });
  } catch (err) {
    problems.push(`${realRoot}: cannot list the ecosystem root (${(err as NodeJS.ErrnoException).code ?? err})`);
    return [];
  }
  if (listing.cut) problems.push(cutProblem(realRoot, limit));
  reportMisnamed(realRoot, misnamed, problems);
  // Bounded like every other file system call of a build: each symlink is a realpath and a stat.
  const folders = await mapLimit(listing.kept, READ_CONCURRENCY, async (entry) => {
    const candidate = path.join(realRoot, entry.name);
    if (entry.isDirectory()) return { name: entry.name, dir: candidate };
    const real = await realPathInside(realRoot, candidate);
    if (real === null || !isInside(realRoot, real)) {
      problems.push(`${candidate}: symlink points outside the ecosystem root (or nowhere), ignored`);
      return null;
    }
    return (await isDirectory(real)) ? { name: entry.name, dir: real } : null;
  });
  return folders.filter((f): f is { name: string; dir: string } => f !== null);
}

/** At most this many ignored `puruto-…` names are reported per root (the rest as a count). */
const MAX_MISNAMED_REPORTED = 20;

/**
 * Folders named like purutos that the name rule refuses (a look-alike letter, `..`, over 128 characters) are
 * reported, not silently skipped: their owner can see why they are not listed.
 */
function reportMisnamed(realRoot: string, misnamed: string[], problems: string[]): void {
  for (const name of misnamed.slice(0, MAX_MISNAMED_REPORTED)) {
    const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
    problems.push(
      `${realRoot}: folder ${shown} is not a valid puruto name (letters, digits, '.', '-', '_'; at most 128; no '..'), ignored`,
    );
  }
  if (misnamed.length > MAX_MISNAMED_REPORTED)
    problems.push(
      `${realRoot}: ${misnamed.length - MAX_MISNAMED_REPORTED} more folders with invalid puruto names, ignored`,
    );
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
