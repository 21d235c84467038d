// Configuration of the discovery & commands face, read once from the environment.
// A bad value stops startup with a message naming the variable: a gateway that silently falls back
// to defaults on a typo would run commands with limits the operator never chose.
import path from "node:path";
import { isCommandName, isPlainName } from "./names";
import type { HiddenPaths } from "./runner";

export interface PurutosConfig {
  /** Folder holding registry.json (or the registry file itself); null when PURUTO_DATA_PATH is unset. */
  dataPath: string | null;
  /** Folder whose `puruto-*` children are scanned and against which registry folders resolve (the first root). */
  ecosystemRoot: string;
  /**
   * Every scan root (GATEHOUSE_ECOSYSTEM_ROOT is a list, like PATH); absent = `[ecosystemRoot]`. Registry entries
   * are honoured where they point when that lies under one of these or under the parent of the data folder.
   */
  ecosystemRoots?: string[];
  /** Folders no puruto may be (or contain): Gatehouse's own data dir, with its database and secret. */
  forbidden?: string[];
  /**
   * The gateway's files commands must not read (its data dir, a database file elsewhere), hidden in each command's
   * mount namespace (runner.ts). Not an environment variable: the composition root passes the loaded Config's.
   */
  hidden?: HiddenPaths;
  /** The org the purutos belong to: only its API keys may list or run them (default: GATEHOUSE_DEFAULT_ORG). */
  org?: string;
  /** A command still running after this many ms is killed (its whole process group). */
  commandTimeoutMs: number;
  /** Bytes of stdout accepted from a command; beyond it the command is killed and the answer is an error. */
  commandOutputLimit: number;
  /** Skill names that may be invoked besides the four base commands (`*` = every skill). */
  extraCommands: string[];
  /** argv of an operator-configured agent that runs skills without a `run` script; null = none. */
  agentCommand: string[] | null;
  /** Names of variables passed to the agent (e.g. its own API key); nothing else leaves the gateway's env. */
  agentEnv: string[];
  /** Commands running at the same time, gateway-wide; more wait their turn. */
  maxConcurrentCommands: number;
  /** Callers waiting for a free slot; one more is refused at once (CommandsBusyError, 503). Absent = 64. */
  maxQueuedCommands?: number;
  /** After this many ms the discovery cache is rebuilt in the background (catches edits inside purutos). */
  cacheTtlMs: number;
  /**
   * Entries examined per directory discovery lists (an ecosystem root, a puruto's `.claude/skills`); absent =
   * MAX_DIRECTORY_ENTRIES (directory.ts). Not an environment variable: tests lower it.
   */
  directoryEntryLimit?: number;
}

export const BASE_COMMANDS = ["init", "help", "list", "status"] as const;

/** Four waiting callers per default slot: a queued call waits at most a few command timeouts. */
export const DEFAULT_MAX_QUEUED_COMMANDS = 64;

type Env = Record<string, string | undefined>;

export function purutosConfigFromEnv(env: Env = process.env, cwd: string = process.cwd()): PurutosConfig {
  const dataPathRaw = nonEmpty(env.PURUTO_DATA_PATH);
  // Seed 000: purutos are the gateway's siblings, so the default root is the parent of the working dir.
  const roots = rootList(env.GATEHOUSE_ECOSYSTEM_ROOT).map((root) => path.resolve(cwd, root));
  const ecosystemRoots = roots.length > 0 ? roots : [path.dirname(path.resolve(cwd))];
  return {
    dataPath: dataPathRaw ? path.resolve(cwd, dataPathRaw) : null,
    ecosystemRoot: ecosystemRoots[0]!,
    ecosystemRoots,
    forbidden: [path.resolve(cwd, nonEmpty(env.GATEHOUSE_DATA_DIR) ?? ".data")],
    org: orgName(env),
    commandTimeoutMs: positiveInt(env, "GATEHOUSE_COMMAND_TIMEOUT_MS", 30_000, MAX_TIMER_MS),
    commandOutputLimit: positiveInt(env, "GATEHOUSE_COMMAND_OUTPUT_LIMIT", 1024 * 1024),
    extraCommands: commandList(env, "GATEHOUSE_EXTRA_COMMANDS"),
    agentCommand: agentArgv(env.GATEHOUSE_AGENT_COMMAND),
    agentEnv: nameList(env, "GATEHOUSE_AGENT_ENV"),
    maxConcurrentCommands: positiveInt(env, "GATEHOUSE_MAX_CONCURRENT_COMMANDS", 16),
    maxQueuedCommands: count(env, "GATEHOUSE_MAX_QUEUED_COMMANDS", DEFAULT_MAX_QUEUED_COMMANDS),
    cacheTtlMs: positiveInt(env, "GATEHOUSE_DISCOVERY_TTL_MS", 10_000),
  };
}

/** GATEHOUSE_ECOSYSTEM_ROOT: one folder, or several separated by `:` (like PATH) or `,`. */
function rootList(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(new RegExp(`[,${path.delimiter}]`))
    .map((s) => s.trim())
    .filter(Boolean);
}

function orgName(env: Env): string {
  const org = nonEmpty(env.GATEHOUSE_PURUTO_ORG) ?? nonEmpty(env.GATEHOUSE_DEFAULT_ORG) ?? "default";
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$/.test(org)) {
    throw new Error(`GATEHOUSE_PURUTO_ORG must be 1-64 letters, digits, '-' or '_', got "${org}"`);
  }
  return org;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/**
 * The longest delay a Node timer takes: a longer one fires after 1 ms. GATEHOUSE_COMMAND_TIMEOUT_MS=3000000000
 * (50 min) killed every command at once as TIMEOUT.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

function positiveInt(env: Env, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw))) {
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  }
  if (Number(raw) > max) throw new Error(`${name} must be at most ${max}, got "${raw}"`);
  return Number(raw);
}

/** Like positiveInt, but 0 is a meaningful value (e.g. no queue). */
function count(env: Env, name: string, fallback: number): number {
  return nonEmpty(env[name]) === "0" ? 0 : positiveInt(env, name, fallback);
}

function commandList(env: Env, name: string): string[] {
  const problem = commandListProblem(env[name] ?? "");
  if (problem) throw new Error(`${name} ${problem}`);
  return splitList(env[name]);
}

function nameList(env: Env, name: string): string[] {
  const problem = variableListProblem(env[name] ?? "");
  if (problem) throw new Error(`${name} ${problem}`);
  return splitList(env[name]);
}

/** What is wrong with a list of skill names (or `*`), if anything: the rule src/config.ts checks at start-up too. */
export function commandListProblem(raw: string): string | undefined {
  const bad = splitList(raw).find((item) => item !== "*" && !isCommandEntry(item));
  return bad === undefined
    ? undefined
    : `must be a comma-separated list of <puruto>:<skill> entries (or bare skill names, or *), got "${bad}"`;
}

/** `balance` (every puruto's) or `puruto-financial:balance` (that puruto's only); exactly one `:`, no empty part. */
function isCommandEntry(item: string): boolean {
  const parts = item.split(":");
  if (parts.length === 1) return isCommandName(item);
  return parts.length === 2 && isPlainName(parts[0]!) && isCommandName(parts[1]!);
}

/**
 * What start-up warns about: a bare entry (not `*`, not scoped) is kept for backwards compatibility, but it trusts
 * a name, not a puruto, so any folder that appears later with a skill of that name inherits the trust.
 */
export function bareCommandWarnings(entries: readonly string[]): string[] {
  return entries
    .filter((item) => item !== "*" && !item.includes(":"))
    .map(
      (command) =>
        `GATEHOUSE_EXTRA_COMMANDS entry "${command}" trusts ${command} in every puruto, present and future; ` +
        `name the puruto instead (<puruto>:${command})`,
    );
}

/** What is wrong with a list of environment variable names, if anything. */
export function variableListProblem(raw: string): string | undefined {
  const bad = splitList(raw).find((item) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(item));
  return bad === undefined ? undefined : `must be a comma-separated list of variable names, got "${bad}"`;
}

function splitList(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function agentArgv(raw: string | undefined): string[] | null {
  const text = nonEmpty(raw);
  if (text === undefined) return null;
  const problem = argvProblem(text);
  if (problem) throw new Error(`GATEHOUSE_AGENT_COMMAND ${problem}`);
  return JSON.parse(text) as string[];
}

/** What is wrong with an agent's argv given as JSON, if anything. */
export function argvProblem(text: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `must be a JSON array of strings (argv), e.g. ["claude","-p"]`;
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === "string" && a !== "")) {
    return "must be a non-empty JSON array of non-empty strings";
  }
  return undefined;
}
