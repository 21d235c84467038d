// Parsing `PURUTO_DATA_PATH/registry.json` (written by puruto-data's `register` skill).
// Accepted shapes (seed 000 + reference): root `{"purutos": [...]}` or `{"repos": [...]}` (a bare array too);
// items `{name|id, path?, folder?, kind?, commands?, registered_at?}`. A broken file or item never throws:
// it becomes a problem string and the rest keeps working.
import { realpath } from "node:fs/promises";
import path from "node:path";
import { isKnownKind, isPlainName } from "./names";
import { type ContainedRead, type FileReader, NO_CACHE } from "./read-cache";

export interface RegistryEntry {
  name: string;
  /** Where to look for the folder, in order: `path`, `folder`, then the name itself (relative to the root). */
  locations: string[];
  kind?: string | undefined;
  /** `commands` as the entry declares them (non-strings as JSON): never an allow list, only reported when dropped. */
  commands: string[];
}

export interface RegistryRead {
  /** False when the file does not exist (not a problem by itself unless PURUTO_DATA_PATH was set). */
  found: boolean;
  entries: RegistryEntry[];
  problems: string[];
}

const REGISTRY_FILE_LIMIT = 8 * 1024 * 1024;

/**
 * Entries used from one registry. 8 MiB holds ~200k small items, and each one costs filesystem lookups on every
 * rebuild; an ecosystem of purutos on one machine is far smaller than this.
 */
export const MAX_REGISTRY_ENTRIES = 10_000;

/**
 * Problems reported per registry, the rest counted in one line. A registry of 400k broken items made 400k problem
 * strings, and spreading them into one push overflowed the stack: every GET /purutos and GET /health was a 500.
 */
export const MAX_REGISTRY_PROBLEMS = 100;

/** PURUTO_DATA_PATH may name the data folder (usual) or the registry file itself. */
export function registryFile(dataPath: string): string {
  return dataPath.endsWith(".json") ? dataPath : path.join(dataPath, "registry.json");
}

/** `reader` is discovery's ReadCache: an unchanged registry.json is not read or parsed again at each rebuild. */
export async function readRegistry(file: string, reader: FileReader = NO_CACHE): Promise<RegistryRead> {
  // Contained to the data folder (like every puruto file read): a registry.json symlinked elsewhere is refused.
  let realDataDir: string;
  try {
    realDataDir = await realpath(path.dirname(file));
  } catch {
    return { found: false, entries: [], problems: [`${file}: registry.json not found`] };
  }
  return reader.read("registry", realDataDir, file, REGISTRY_FILE_LIMIT, (read) => registryRead(file, read));
}

function registryRead(file: string, read: ContainedRead): RegistryRead {
  if (read.ok) return { found: true, ...parseRegistry(read.text, file) };
  switch (read.reason) {
    case "absent":
      return { found: false, entries: [], problems: [`${file}: registry.json not found`] };
    case "too_big":
      return { found: true, entries: [], problems: [`${file}: larger than ${REGISTRY_FILE_LIMIT} bytes, ignored`] };
    case "outside":
      return { found: false, entries: [], problems: [`${file}: points outside the data folder, ignored`] };
    default:
      return { found: false, entries: [], problems: [`${file}: cannot read registry.json (${read.reason})`] };
  }
}

/**
 * Deepest nesting registry.json may have (its items are flat objects). JSON.parse of an 8 MiB file of `[` took
 * 1.6 s on the event loop, blocking every request of the gateway, again at each rebuild (every 10 s).
 */
export const REGISTRY_MAX_DEPTH = 16;

export function parseRegistry(text: string, label: string): { entries: RegistryEntry[]; problems: string[] } {
  if (!nestingWithin(text, REGISTRY_MAX_DEPTH)) {
    return { entries: [], problems: [`${label}: nested deeper than ${REGISTRY_MAX_DEPTH} levels, ignored`] };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { entries: [], problems: [`${label}: invalid JSON (${(err as Error).message})`] };
  }
  const items = rootItems(doc);
  if (items === null) {
    return { entries: [], problems: [`${label}: expected {"purutos": [...]} or {"repos": [...]}`] };
  }
  const entries: RegistryEntry[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  let cut: string | undefined;
  for (const [index, item] of items.entries()) {
    if (entries.length === MAX_REGISTRY_ENTRIES) {
      cut = `${label}: more than ${MAX_REGISTRY_ENTRIES} purutos, items from ${index} on ignored`;
      break;
    }
    const entry = parseItem(item);
    if (typeof entry === "string") {
      problems.push(`${label}: item ${index} ${entry}`);
    } else if (seen.has(entry.name)) {
      problems.push(`${label}: item ${index} repeats "${entry.name}", first one kept`);
    } else {
      seen.add(entry.name);
      entries.push(entry);
    }
  }
  const reported = boundedProblems(problems, MAX_REGISTRY_PROBLEMS, label);
  if (cut) reported.push(cut);
  return { entries, problems: reported };
}

/** The first `limit` problems, and one line counting the others: what a report (and GET /health) can hold. */
export function boundedProblems(problems: string[], limit: number, label: string): string[] {
  if (problems.length <= limit) return [...problems];
  const kept = problems.slice(0, limit);
  kept.push(`${label}: ${problems.length - limit} more problems not listed`);
  return kept;
}

/** Whether `[`/`{` outside strings never nest deeper than `max`: one pass over the text, before parsing it. */
function nestingWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}

function rootItems(doc: unknown): unknown[] | null {
  if (Array.isArray(doc)) return doc;
  if (doc === null || typeof doc !== "object") return null;
  const root = doc as Record<string, unknown>;
  if (Array.isArray(root.purutos)) return root.purutos;
  if (Array.isArray(root.repos)) return root.repos;
  return null;
}

/** A RegistryEntry, or why the item was skipped. */
function parseItem(item: unknown): RegistryEntry | string {
  if (item === null || typeof item !== "object" || Array.isArray(item)) return "is not an object, skipped";
  const raw = item as Record<string, unknown>;
  const name = typeof raw.name === "string" ? raw.name : typeof raw.id === "string" ? raw.id : undefined;
  if (name === undefined) return "has no name or id, skipped";
  if (!isPlainName(name)) return `has an invalid name ${JSON.stringify(name.slice(0, 80))}, skipped`;
  const locations = [raw.path, raw.folder]
    .filter((p): p is string => typeof p === "string" && p.trim() !== "" && !p.includes("\0"))
    .concat(name);
  // A kind outside the documented five (control characters, a right-to-left override, 100 KB) is not passed on
  // to every client: the kind is inferred from the name, as for an entry that declares none.
  const declared = typeof raw.kind === "string" ? raw.kind.trim() : "";
  const kind = isKnownKind(declared) ? declared : undefined;
  return { name, locations, kind, commands: declaredCommands(raw.commands) };
}

/** Declared commands kept per entry (to report the dropped ones), each cut to 200 characters. */
const MAX_DECLARED_COMMANDS = 100;

function declaredCommands(value: unknown): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value : [value];
  return items
    .slice(0, MAX_DECLARED_COMMANDS)
    .map((item) => (typeof item === "string" ? item : (JSON.stringify(item) ?? String(item))).slice(0, 200));
}
