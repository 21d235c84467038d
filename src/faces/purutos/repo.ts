// Reading one puruto folder: its skills, purpose, standard version, env and layout.
// Everything here only reads (never writes) and never throws on a broken file: a problem becomes a string
// the caller reports, so one bad SKILL.md cannot hide the rest of the ecosystem.
import { constants } from "node:fs";
import { access, lstat, stat } from "node:fs/promises";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { must } from "../../core/must";
import { mapLimit } from "./concurrency";
import { readContained, realPathInside } from "./containment";
import { cutProblem, listDirectory, MAX_DIRECTORY_ENTRIES } from "./directory";
import { isPlainName } from "./names";
import { type ContainedRead, type FileReader, NO_CACHE } from "./read-cache";

export interface SkillInfo {
  /** Folder name under .claude/skills — the command that invokes it. */
  command: string;
  /** Front matter `name` (falls back to the folder name): a label only, nothing runs or is allowed by it. */
  name: string;
  description: string;
  userInvocable: boolean;
  /** Real path of an executable `run` inside the puruto, or null. */
  runPath: string | null;
  /** Path of SKILL.md (its body is the prompt an agent follows). */
  skillFile: string;
}

export interface RepoInfo {
  skills: SkillInfo[];
  /** First paragraph of README.md. */
  description?: string | undefined;
  /** `.puruto-standard-version`. */
  standardVersion?: string | undefined;
  problems: string[];
}

const SMALL_FILE_LIMIT = 256 * 1024;

/**
 * Skills read per puruto, and how many at once. A puruto of 20,000 skill folders had them all opened together:
 * the gateway ran out of file descriptors (some skills silently dropped, EMFILE for anything else it opened) and
 * its event loop stalled 5 s at each rebuild.
 */
export const MAX_SKILLS = 1000;
const SKILL_READ_CONCURRENCY = 8;

/** Minimum layout of the Puruto standard (`CLAUDE.md` or `agent.md` counts as one). */
export const REQUIRED_LAYOUT = [
  "CLAUDE.md|agent.md",
  "README.md",
  ".env.example",
  ".env",
  ".puruto-standard-version",
  ".claude/skills/init/SKILL.md",
  ".claude/skills/help/SKILL.md",
  ".claude/skills/list/SKILL.md",
  ".claude/skills/status/SKILL.md",
];

/**
 * `realDir` must already be a real path (symlinks resolved) inside the ecosystem root. `reader` is discovery's
 * ReadCache: a file whose probe did not change since the last rebuild is not read or parsed again. At most
 * `directoryEntryLimit` entries of `.claude/skills` are examined (see directory.ts).
 */
export async function readRepo(
  realDir: string,
  reader: FileReader = NO_CACHE,
  directoryEntryLimit: number = MAX_DIRECTORY_ENTRIES,
): Promise<RepoInfo> {
  const problems: string[] = [];
  const [skills, description, standardVersion] = await Promise.all([
    readSkills(realDir, reader, directoryEntryLimit, problems),
    reader.read("readme", realDir, path.join(realDir, "README.md"), SMALL_FILE_LIMIT, (read) =>
      read.ok ? firstParagraph(read.text) : undefined,
    ),
    reader.read("version", realDir, path.join(realDir, ".puruto-standard-version"), SMALL_FILE_LIMIT, (read) =>
      read.ok ? read.text.trim() || undefined : undefined,
    ),
  ]);
  return { skills, description, standardVersion, problems };
}

/** What a SKILL.md says: null when there is none (a folder without SKILL.md is not a skill). */
type SkillFront =
  | { ok: true; name: string; description: string; userInvocable: boolean }
  | { ok: false; error: string };

function skillFront(folder: string, read: ContainedRead): SkillFront | null {
  if (!read.ok) return null;
  const front = parseFrontMatter(read.text);
  if (!front.ok) return front;
  const data = front.data;
  return {
    ok: true,
    name: typeof data.name === "string" && data.name.trim() ? data.name.trim() : folder,
    description: typeof data.description === "string" ? data.description.trim() : "",
    userInvocable: data["user-invocable"] === true,
  };
}

/**
 * The first MAX_SKILLS skill folders by name, among the first `entryLimit` entries the file system lists (the
 * rule is only "by name" while the folder holds at most `entryLimit` entries; beyond, the cut is reported).
 */
async function skillFolders(skillsDir: string, entryLimit: number, problems: string[]): Promise<string[]> {
  let listing;
  try {
    listing = await listDirectory(skillsDir, entryLimit, (entry) => isPlainName(entry.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      problems.push(`${skillsDir}: cannot read skills (${(err as Error).message})`);
    }
    return [];
  }
  if (listing.cut) problems.push(cutProblem(skillsDir, entryLimit));
  const folders = listing.kept.map((entry) => entry.name).sort();
  if (folders.length > MAX_SKILLS) {
    problems.push(`${skillsDir}: ${folders.length} skill folders, only the first ${MAX_SKILLS} by name are read`);
  }
  return folders.slice(0, MAX_SKILLS);
}

async function readSkills(
  realDir: string,
  reader: FileReader,
  entryLimit: number,
  problems: string[],
): Promise<SkillInfo[]> {
  const skillsDir = path.join(realDir, ".claude", "skills");
  const folders = await skillFolders(skillsDir, entryLimit, problems);
  const misnamed: string[] = [];
  const skills = await mapLimit(folders, SKILL_READ_CONCURRENCY, async (folder) => {
    const skillDir = path.join(skillsDir, folder);
    const skillFile = path.join(skillDir, "SKILL.md");
    const front = await reader.read("skill", realDir, skillFile, SMALL_FILE_LIMIT, (read) => skillFront(folder, read));
    if (front === null) return null;
    if (!front.ok) {
      problems.push(`${skillFile}: ${front.error}`);
      return null;
    }
    if (front.name !== folder) misnamed.push(misnamedSkill(skillFile, front.name, folder));
    const skill: SkillInfo = {
      command: folder,
      name: front.name,
      description: front.description,
      userInvocable: front.userInvocable,
      // Not cached: a realpath, a stat and access(X_OK), nothing opened — as cheap as a probe.
      runPath: await executableInside(realDir, path.join(skillDir, "run")),
      skillFile,
    };
    return skill;
  });
  // In folder order (reads end in any order), at most MAX_MISNAMED_REPORTED, the rest counted.
  misnamed.sort();
  problems.push(...misnamed.slice(0, MAX_MISNAMED_REPORTED));
  if (misnamed.length > MAX_MISNAMED_REPORTED) {
    problems.push(`${skillsDir}: ${misnamed.length - MAX_MISNAMED_REPORTED} more skills named unlike their folder`);
  }
  return skills.filter((s): s is SkillInfo => s !== null);
}

/** Skills named unlike their folder reported per puruto (a puruto may have 1,000 skills; GET /health is short). */
const MAX_MISNAMED_REPORTED = 20;

/**
 * A SKILL.md whose front matter `name` is not its folder's: listed under its folder (the command that runs it), but
 * an operator reading `name` could allow or call another skill than the one they meant (`wipe/` saying `status`).
 */
function misnamedSkill(skillFile: string, name: string, folder: string): string {
  // JSON escapes control characters; C1 controls and bidi overrides (which would reorder the line) become `?`.
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name).replace(
    /[\u0080-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    "?",
  );
  return `${skillFile}: front matter name ${shown} is not its folder's; it runs (and is allowed) as command "${folder}"`;
}

/** The mode bits S_ISUID | S_ISGID (not in node:fs constants). */
const SETUID_OR_SETGID = 0o6000;

/**
 * Real path of an executable regular file inside `realDir`; null otherwise (absent, not executable, escaping, or
 * setuid/setgid: a command runs with the gateway's identity, never with the file owner's).
 */
export async function executableInside(realDir: string, file: string): Promise<string | null> {
  const real = await realPathInside(realDir, file);
  if (real === null) return null;
  try {
    const info = await stat(real);
    if (!info.isFile() || (info.mode & SETUID_OR_SETGID) !== 0) return null;
    await access(real, constants.X_OK);
    return real;
  } catch {
    return null;
  }
}

type FrontMatter = { ok: true; data: Record<string, unknown>; body: string } | { ok: false; error: string };

/**
 * Front matter holds a few named fields. Beyond these bounds it is refused before YAML reads it: YAML parsing is
 * recursive and synchronous, and five SKILL.md of `x: [[[…120k…]]]` held the event loop (every request of the
 * gateway) for 4.8 s at each discovery rebuild.
 */
export const FRONT_MATTER_LIMIT = 16 * 1024;
export const FRONT_MATTER_MAX_DEPTH = 32;

/** Splits `---\nyaml\n---\nbody`. A SKILL.md without front matter, or with YAML that is not a map, is broken. */
export function parseFrontMatter(text: string): FrontMatter {
  const match = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(text);
  if (!match) return { ok: false, error: "no YAML front matter" };
  const yaml = must(match[1], "the front matter pattern has one mandatory group");
  if (yaml.length > FRONT_MATTER_LIMIT) {
    return { ok: false, error: `front matter longer than ${FRONT_MATTER_LIMIT} characters` };
  }
  if (bracketDepth(yaml) > FRONT_MATTER_MAX_DEPTH) {
    return { ok: false, error: `front matter nested deeper than ${FRONT_MATTER_MAX_DEPTH} levels` };
  }
  let data: unknown;
  try {
    data = parseYaml(yaml);
  } catch (err) {
    return { ok: false, error: `invalid YAML front matter (${(err as Error).message.split("\n")[0]})` };
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return { ok: false, error: "front matter is not a YAML map" };
  }
  return { ok: true, data: data as Record<string, unknown>, body: text.slice(match[0].length) };
}

/** Deepest nesting of `[` and `{` (flow collections), counted wherever they are: an upper bound of YAML's. */
function bracketDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return deepest;
}

/** First prose paragraph: skips front matter, headings, badges, HTML comments and blank lines. */
export function firstParagraph(markdown: string): string | undefined {
  const front = parseFrontMatter(markdown);
  const text = front.ok ? front.body : markdown;
  const lines = withoutComments(text).split(/\r?\n/);
  const paragraph: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    const skip = line === "" || line.startsWith("#") || line.startsWith("[![") || line.startsWith("![");
    if (skip) {
      if (paragraph.length > 0) break;
      continue;
    }
    paragraph.push(line);
  }
  const joined = paragraph.join(" ").trim();
  if (!joined) return undefined;
  return joined.length > 500 ? `${joined.slice(0, 497)}...` : joined;
}

/**
 * The text without its HTML comments, in one pass. The regex it replaces (`/<!--[\s\S]*?-->/g`) searched to the end
 * from every unclosed `<!--`: a README.md of 64k of them held the event loop — every request of the gateway —
 * 13 s at each discovery rebuild. An unclosed comment is left as it is, as the regex left it.
 */
function withoutComments(text: string): string {
  let kept = "";
  let at = 0;
  for (;;) {
    const open = text.indexOf("<!--", at);
    if (open < 0) return kept + text.slice(at);
    const close = text.indexOf("-->", open + 4);
    if (close < 0) return kept + text.slice(at);
    kept += text.slice(at, open);
    at = close + 3;
  }
}

/**
 * Contents of a small regular file of the puruto at `realDir`, or null when absent, unreadable, not a regular
 * file, too big or (through a symlink) outside the puruto folder. Every read goes through ./containment.ts.
 */
export async function readSmallFile(realDir: string, file: string): Promise<string | null> {
  const read = await readContained(realDir, file, SMALL_FILE_LIMIT);
  return read.ok ? read.text : null;
}

/** Variable names declared in a dotenv text. Values are read only to know whether they are empty. */
export function parseEnvNames(text: string): { declared: string[]; nonEmpty: Set<string> } {
  const declared: string[] = [];
  const nonEmpty = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(raw);
    if (!match) continue;
    const name = must(match[1], "the pattern's name group is mandatory");
    const rest = must(match[2], "the pattern's value group is mandatory");
    if (!declared.includes(name)) declared.push(name);
    const value = rest
      .trim()
      .replace(/^(['"])(.*)\1$/, "$2")
      .trim();
    if (value !== "" && !value.startsWith("#")) nonEmpty.add(name);
  }
  return { declared, nonEmpty };
}

export interface EnvStatus {
  example_present: boolean;
  env_present: boolean;
  /** Names from `.env.example` that have a non-empty value in `.env`. Names only, never values. */
  set: string[];
  /** Names from `.env.example` missing or empty in `.env`. */
  missing: string[];
}

export async function envStatus(realDir: string): Promise<EnvStatus> {
  const example = await readSmallFile(realDir, path.join(realDir, ".env.example"));
  const env = await readSmallFile(realDir, path.join(realDir, ".env"));
  const wanted = example === null ? [] : parseEnvNames(example).declared;
  const present = env === null ? new Set<string>() : parseEnvNames(env).nonEmpty;
  return {
    example_present: example !== null,
    env_present: env !== null,
    set: wanted.filter((n) => present.has(n)),
    missing: wanted.filter((n) => !present.has(n)),
  };
}

/** Required files of the minimum layout that are missing. */
export async function missingLayout(realDir: string): Promise<string[]> {
  const results = await Promise.all(
    REQUIRED_LAYOUT.map(async (entry) => {
      const alternatives = entry.split("|");
      for (const alt of alternatives) {
        try {
          await lstat(path.join(realDir, alt));
          return null;
        } catch {
          // try the next alternative
        }
      }
      return alternatives.join(" or ");
    }),
  );
  return results.filter((m): m is string => m !== null);
}
