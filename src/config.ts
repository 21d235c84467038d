// Gatehouse configuration from the environment. The seeds' variable names are honoured
// (PURUTO_GATEWAY_*, AGENT_RUNTIME_URL, REDIS_URL, JWKS_URL, JWKS_CACHE_TTL, LOG_LEVEL).
// A bad value stops start-up with a message that names the variable.
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseEnv } from "node:util";
import { argvProblem, commandListProblem, variableListProblem } from "./faces/purutos/config";
import { type AllowedHosts, allowedHostsOf, allowedHostsProblem } from "./http/boundary/hosts";

export interface Config {
  host: string;
  port: number;
  /** API keys from the environment; they belong to `defaultOrg`. */
  apiKeys: string[];
  defaultOrg: string;
  dataDir: string;
  databaseFile: string;
  maxBodyBytes: number;
  /** A request body not fully received this long after it started is answered 408 (connection closed). */
  bodyTimeoutMs: number;
  /** External identity provider; unset → Gatehouse is its own development issuer. */
  jwksUrl?: string | undefined;
  jwksCacheTtlSeconds: number;
  jwtIssuer: string;
  jwtAudience: string;
  agentRuntimeUrl?: string | undefined;
  /** Port of the embedded reference agent runtime (GATEHOUSE_EMBEDDED_RUNTIME=1). */
  agentRuntimePort: number;
  redisUrl?: string | undefined;
  /** DATABASE_URL: a postgres:// URL selects PostgreSQL (src/core/store/open-store.ts); unset → the SQLite file. */
  databaseUrl?: string | undefined;
  logLevel: string;
  /** SIGTERM: how long in-flight requests may finish before their connections are closed. */
  shutdownTimeoutMs: number;
  /** V8's heap growth before a full GC (src/system/heap.ts); 0 = V8's own heuristics. */
  heapGrowingPercent: number;
  /** On PostgreSQL: the largest offset from the database's clock at which the node serves (src/clock-skew.ts). */
  maxClockSkewMs: number;
  /** GATEHOUSE_REDIS_PREFIX_TAKEOVER=1: this node's prefix replaces the one its PostgreSQL store recorded. */
  redisPrefixTakeOver: boolean;
  /**
   * The org whose manifest tools may use this gateway's GATEHOUSE_SECRET_* variables and private network
   * (GATEHOUSE_SECRETS_ORG); undefined: every org (`*`).
   */
  secretsOrg: string | undefined;
  /** The names requests may be sent to and browsers' requests come from (GATEHOUSE_ALLOWED_HOSTS; DNS rebinding). */
  allowedHosts: AllowedHosts;
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** The values of LOG_FORMAT (src/core/log/logger.ts reads it; it must not be imported here: it logs). */
const LOG_FORMATS = ["json", "pretty"];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** The schema entry of a variable this file parses (a missing one is a programming error). */
function variable(name: string): ConfigVariable {
  const found = CONFIG_VARIABLES.find((v) => v.name === name);
  if (!found) throw new Error(`${name} is not in CONFIG_VARIABLES`);
  return found;
}

/** The value set for a variable under its name or an alias (the first set wins); "" counts as unset. */
function lookup(env: Env, v: ConfigVariable): [string, string] | undefined {
  for (const name of [v.name, ...(v.aliases ?? [])]) {
    const value = env[name];
    if (value !== undefined && value !== "") return [name, value];
  }
  return undefined;
}

/** Applies the schema's rule to one value; a bad value is a ConfigError naming the variable as it was set. */
function check(rule: ConfigCheck, name: string, raw: string): void {
  if (rule.kind === "integer") {
    if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
    const n = Number(raw);
    if (n < rule.min || n > rule.max)
      throw new ConfigError(name, `must be between ${rule.min} and ${rule.max}, got ${n}`);
  } else if (rule.kind === "url") {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(name, `must be a URL, got "${raw}"`);
    }
    if (!rule.protocols.includes(parsed.protocol))
      throw new ConfigError(name, `must use ${rule.protocols.join(" or ")}, got "${parsed.protocol}"`);
  } else if (rule.kind === "oneOf") {
    if (!rule.values.includes(raw.toLowerCase()))
      throw new ConfigError(name, `must be one of ${rule.values.join(", ")}, got "${raw}"`);
  } else if (rule.kind === "pattern") {
    if (!rule.pattern.test(raw.trim())) throw new ConfigError(name, `must be ${rule.what}, got "${raw}"`);
  } else {
    const problem = rule.problem(raw);
    if (problem) throw new ConfigError(name, problem);
  }
}

/**
 * Checks every variable that is set against its rule in CONFIG_VARIABLES — the faces' variables too, before
 * any face reads them — so a bad value always stops start-up with a message that names it.
 */
export function validateEnvironment(env: Env): void {
  for (const v of CONFIG_VARIABLES) {
    const found = v.check ? lookup(env, v) : undefined;
    if (v.check && found) check(v.check, found[0], found[1]);
  }
}

/** A checked variable's value, else its documented default: the README's default is the parsed one. */
function text(env: Env, name: string): string {
  const v = variable(name);
  return lookup(env, v)?.[1] ?? v.default;
}
const integer = (env: Env, name: string): number => Number(text(env, name).trim());
const optional = (env: Env, name: string): string | undefined => lookup(env, variable(name))?.[1];

export function loadConfig(env: Env = process.env): Config {
  validateEnvironment(env);
  const host = text(env, "HOST");
  const port = integer(env, "PORT");
  const apiKeys = [
    ...(env.PURUTO_GATEWAY_API_KEY ? [env.PURUTO_GATEWAY_API_KEY] : []),
    ...(env.GATEHOUSE_API_KEYS ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
  ];
  for (const k of apiKeys) {
    if (k.length < 8 && k !== "changeme")
      throw new ConfigError("PURUTO_GATEWAY_API_KEY", "must be at least 8 characters");
  }
  const dataDir = resolve(env.GATEHOUSE_DATA_DIR ?? ".data");
  const defaultOrg = env.GATEHOUSE_DEFAULT_ORG ?? "default";
  if (!ORG_NAME.test(defaultOrg)) {
    throw new ConfigError("GATEHOUSE_DEFAULT_ORG", "must be 1-64 letters, digits, '-' or '_'");
  }
  return {
    host,
    port,
    apiKeys,
    defaultOrg,
    dataDir,
    databaseFile: env.GATEHOUSE_DB ?? resolve(dataDir, "gatehouse.sqlite"),
    maxBodyBytes: integer(env, "GATEHOUSE_MAX_BODY_BYTES"),
    bodyTimeoutMs: integer(env, "GATEHOUSE_BODY_TIMEOUT_MS"),
    jwksUrl: optional(env, "JWKS_URL"),
    jwksCacheTtlSeconds: integer(env, "JWKS_CACHE_TTL"),
    jwtIssuer: text(env, "GATEHOUSE_JWT_ISSUER"),
    jwtAudience: text(env, "GATEHOUSE_JWT_AUDIENCE"),
    agentRuntimeUrl: optional(env, "AGENT_RUNTIME_URL"),
    agentRuntimePort: integer(env, "AGENT_RUNTIME_PORT"),
    redisUrl: optional(env, "REDIS_URL"),
    databaseUrl: optional(env, "DATABASE_URL"),
    logLevel: text(env, "LOG_LEVEL").toLowerCase(),
    shutdownTimeoutMs: integer(env, "GATEHOUSE_SHUTDOWN_TIMEOUT_MS"),
    heapGrowingPercent: integer(env, "GATEHOUSE_HEAP_GROWING_PERCENT"),
    maxClockSkewMs: integer(env, "GATEHOUSE_MAX_CLOCK_SKEW_MS"),
    redisPrefixTakeOver: env.GATEHOUSE_REDIS_PREFIX_TAKEOVER === "1",
    secretsOrg: secretsOrgOf(env, defaultOrg),
    allowedHosts: allowedHostsOf(optional(env, "GATEHOUSE_ALLOWED_HOSTS"), host),
  };
}

/** GATEHOUSE_SECRETS_ORG: an org, `*` for every org, unset for the default org. */
function secretsOrgOf(env: Env, defaultOrg: string): string | undefined {
  const raw = env.GATEHOUSE_SECRETS_ORG?.trim() || defaultOrg;
  if (raw === "*") return undefined;
  if (!ORG_NAME.test(raw))
    throw new ConfigError("GATEHOUSE_SECRETS_ORG", "must be an org (1-64 letters, digits, '-' or '_') or *");
  return raw;
}

/** The gateway's env file, in the folder it starts in (puruto commands must not read it: src/server.ts). */
export const DOT_ENV_FILE = ".env";

/**
 * Reads `.env` (when present) into `env` without overriding variables already set: the real environment
 * wins, as with docker's and compose's env files.
 */
export function readDotEnv(file = DOT_ENV_FILE, env: Env = process.env): string[] {
  if (!existsSync(file)) return [];
  const parsed = parseEnv(readFileSync(file, "utf8")) as Record<string, string>;
  const applied = Object.keys(parsed).filter((name) => env[name] === undefined);
  for (const name of applied) env[name] = parsed[name];
  return applied;
}

/**
 * mkdir -p one level at a time: Node's recursive mkdir never returns on some pseudo file systems (e.g. under
 * /proc), which is how an unwritable data folder used to hang start-up silently.
 */
function makeFolderStepwise(dir: string): void {
  const missing: string[] = [];
  let current = resolve(dir);
  while (!existsSync(current)) {
    missing.unshift(current);
    const parent = resolve(current, "..");
    if (parent === current) break;
    current = parent;
  }
  for (const folder of missing) mkdirSync(folder);
}

/** The data folder must be writable before anything opens a file in it (a silent hang otherwise). */
export function checkDataDir(dataDir: string): void {
  try {
    makeFolderStepwise(dataDir);
    accessSync(dataDir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError("GATEHOUSE_DATA_DIR", `must name a writable folder: ${dataDir} is not (${code})`);
  }
}

/** One variable of the configuration, as the README's configuration reference documents it. */
export interface ConfigVariable {
  name: string;
  /** Other names accepted for the same setting (the seeds' names). */
  aliases?: string[];
  default: string;
  description: string;
  /** How a set value is checked (and, for the variables loadConfig reads, parsed). */
  check?: ConfigCheck;
}

/** A variable's rule: an integer in a range, a URL with one of some protocols, or one of some words (any case). */
export type ConfigCheck =
  | { kind: "integer"; min: number; max: number }
  | { kind: "url"; protocols: string[] }
  | { kind: "oneOf"; values: string[] }
  | { kind: "pattern"; pattern: RegExp; what: string }
  /** The face's own rule (what is wrong with the value, if anything), so start-up and the face agree. */
  | { kind: "face"; problem: (raw: string) => string | undefined };

const portRule = { kind: "integer", min: 0, max: 65535 } as const satisfies ConfigCheck;
/** The faces' counts and durations: their own parsers apply the finer bounds. */
const countRule = { kind: "integer", min: 0, max: Number.MAX_SAFE_INTEGER } as const satisfies ConfigCheck;
const httpUrlRule: ConfigCheck = { kind: "url", protocols: ["http:", "https:"] };
const ORG_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$/;
const orgRule: ConfigCheck = { kind: "pattern", pattern: ORG_NAME, what: "1-64 letters, digits, '-' or '_'" };

/**
 * Every variable Gatehouse reads, in one place. The README's configuration table is generated from it
 * (`make readme-config`), and a test fails when the README drifts or when code reads a variable not listed.
 */
export const CONFIG_VARIABLES: ConfigVariable[] = [
  {
    name: "HOST",
    aliases: ["PURUTO_GATEWAY_HOST"],
    default: "127.0.0.1",
    description: "Interface to bind; `0.0.0.0` in containers.",
  },
  {
    name: "PORT",
    check: portRule,
    aliases: ["PURUTO_GATEWAY_PORT"],
    default: "8000",
    description: "Port to listen on; `0` picks a free one.",
  },
  {
    name: "GATEHOUSE_ALLOWED_HOSTS",
    check: { kind: "face", problem: allowedHostsProblem },
    default: "loopback names when HOST is loopback, else *",
    description:
      "Host names the gateway answers for, comma-separated (`*.example.com` for its subdomains; any port): a request sent to another name (`Host`), or a browser's request from a page elsewhere (`Origin`), is refused with 421 (`HOST_NOT_ALLOWED`, `ORIGIN_NOT_ALLOWED`), so a web page that rebinds its name to the gateway's address (DNS rebinding) reaches nothing. Unset: bound to a loopback address (the default), `localhost`, `127.0.0.1`, `[::1]` and HOST itself; bound to another (`0.0.0.0` in containers) any name, as `*` does. Set it behind a proxy that passes its own name.",
  },
  {
    name: "PURUTO_GATEWAY_API_KEY",
    default: "",
    description:
      "API key of the default org (`X-API-Key`); at least 8 characters. Unset and no keys in the database: /purutos answers 503.",
  },
  { name: "GATEHOUSE_API_KEYS", default: "", description: "More API keys of the default org, comma-separated." },
  {
    name: "GATEHOUSE_DEFAULT_ORG",
    default: "default",
    description: "Org of the environment's API keys and of the CLI's commands.",
  },
  {
    name: "GATEHOUSE_DATA_DIR",
    default: ".data",
    description: "Writable folder: SQLite database, installation secret, dev issuer and signing keys.",
  },
  {
    name: "GATEHOUSE_DB",
    default: "$GATEHOUSE_DATA_DIR/gatehouse.sqlite",
    description:
      "SQLite database file, of one Gatehouse process: a second one on the same file stops at start-up (exit 2). Nodes share PostgreSQL (`DATABASE_URL`).",
  },
  {
    name: "GATEHOUSE_DOCS_DIR",
    default: "dist/docs",
    description:
      "Folder of the rendered docs pages served at /docs and /docs/websocket (`make docs`); rendered there on first request when missing and the renderer is installed, else /docs answers 503.",
  },
  {
    name: "GATEHOUSE_SECRET",
    default: "generated in the data dir",
    description: "Installation secret for keyed hashes (API keys); set it when nodes share a database.",
  },
  {
    name: "GATEHOUSE_MAX_BODY_BYTES",
    check: { kind: "integer", min: 1024, max: 64 * 1024 * 1024 },
    default: "1048576",
    description: "Largest accepted request body (413 above).",
  },
  {
    name: "GATEHOUSE_HEAP_GROWING_PERCENT",
    check: { kind: "integer", min: 0, max: 1000 },
    default: "0",
    description:
      "Heap growth (in %) before V8's next full GC, with the young generation kept at its initial size, so dead copies of large prompts are freed early (e.g. `20`: RSS peak under 950 KB prompts +148 → +39 MiB, at a cost of more GC work per request); `0` = V8's own heuristics (up to 4×, young generation up to 32 MiB), the faster default.",
  },
  {
    name: "GATEHOUSE_BODY_TIMEOUT_MS",
    check: { kind: "integer", min: 100, max: 10 * 60_000 },
    default: "15000",
    description: "A request body still arriving after this long is answered 408 and its connection closed.",
  },
  {
    name: "GATEHOUSE_SHUTDOWN_TIMEOUT_MS",
    check: { kind: "integer", min: 0, max: 10 * 60_000 },
    default: "10000",
    description: "On SIGTERM, how long in-flight requests may finish before connections close.",
  },
  {
    name: "JWKS_URL",
    check: httpUrlRule,
    default: "",
    description: "JWKS of your identity provider. Unset: Gatehouse is its own development issuer.",
  },
  {
    name: "JWKS_CACHE_TTL",
    check: { kind: "integer", min: 1, max: 7 * 24 * 3600 },
    default: "3600",
    description: "Seconds a fetched JWKS is cached.",
  },
  { name: "GATEHOUSE_JWT_ISSUER", default: "gatehouse-dev", description: "Expected `iss` of user tokens." },
  { name: "GATEHOUSE_JWT_AUDIENCE", default: "gatehouse", description: "Expected `aud` of user tokens." },
  {
    name: "AGENT_RUNTIME_URL",
    check: { kind: "url", protocols: ["http:", "https:", "ws:", "wss:"] },
    default: "http://127.0.0.1:8001",
    description: "Agent runtime that WebSocket sessions relay to.",
  },
  { name: "AGENT_RUNTIME_KEY", default: "", description: "Key Gatehouse presents to the agent runtime." },
  {
    name: "AGENT_RUNTIME_PORT",
    check: portRule,
    default: "8001",
    description: "Port of the embedded reference runtime (`GATEHOUSE_EMBEDDED_RUNTIME=1`, as `make run` does).",
  },
  {
    name: "GATEHOUSE_EMBEDDED_RUNTIME",
    check: { kind: "oneOf", values: ["0", "1"] },
    default: "",
    description:
      "`1`: start the reference agent runtime as a child process (never on the gateway's event loop) when `AGENT_RUNTIME_URL` is unset.",
  },
  {
    name: "REDIS_URL",
    check: { kind: "url", protocols: ["redis:", "rediss:"] },
    default: "",
    description: "Redis shared by gateway nodes (rate limits, sessions). When set, /readyz needs it.",
  },
  {
    name: "DATABASE_URL",
    check: { kind: "url", protocols: ["postgres:", "postgresql:"] },
    default: "",
    description:
      "`postgres://…`: PostgreSQL shared by gateway nodes instead of the SQLite file. When set, /readyz needs it.",
  },
  {
    name: "GATEHOUSE_MAX_CLOCK_SKEW_MS",
    check: { kind: "integer", min: 100, max: 10 * 60_000 },
    default: "5000",
    description:
      "On PostgreSQL: the largest difference between this node's clock and the database's (measured at start and every 15 s) at which the node serves; beyond it /readyz answers 503 (`clock_skew`) and governed calls and approval decisions 503 `CLOCK_SKEW`. Keep nodes on NTP.",
  },
  {
    name: "GATEHOUSE_REDIS_PREFIX",
    default: "gatehouse",
    description:
      "Prefix of Gatehouse's Redis keys. Nodes on one prefix must share one store (`DATABASE_URL`): a node on another store (e.g. a SQLite file of its own) stops at start-up (exit 2); and nodes on one PostgreSQL database must share one prefix: the first node with Redis records its prefix in the store, a node on another one stops at start-up (exit 2).",
  },
  {
    name: "GATEHOUSE_REDIS_PREFIX_TAKEOVER",
    check: { kind: "oneOf", values: ["0", "1"] },
    default: "0",
    description:
      "`1`: this node's `GATEHOUSE_REDIS_PREFIX` replaces the one recorded in its PostgreSQL store, or, without `REDIS_URL`, the record is forgotten (moving a cluster to another prefix or off Redis: stop every node first, start one with `1`, the others without).",
  },
  {
    name: "LOG_LEVEL",
    check: { kind: "oneOf", values: LOG_LEVELS },
    default: "info",
    description: "fatal, error, warn, info, debug, trace or silent (any case).",
  },
  {
    name: "LOG_FORMAT",
    check: { kind: "oneOf", values: LOG_FORMATS },
    default: "pretty on a terminal, else json",
    description: "`json` (one object per line) or `pretty`; by default pretty only when stdout is a TTY.",
  },
  {
    name: "OTEL_EXPORTER_OTLP_ENDPOINT",
    check: httpUrlRule,
    default: "",
    description:
      "OpenTelemetry collector (OTLP/HTTP, e.g. `http://otel-collector:4318`). Set: spans for requests, policy decisions, connector calls, puruto commands and WebSocket sessions; trace ids in log lines and audit records. Unset: no tracing at all.",
  },
  {
    name: "OTEL_SERVICE_NAME",
    default: "gatehouse",
    description:
      "Service name of the spans. The other standard `OTEL_*` variables (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, …) apply too.",
  },
  { name: "PURUTO_DATA_PATH", default: "", description: "Folder holding registry.json (or the file itself)." },
  {
    name: "GATEHOUSE_ECOSYSTEM_ROOT",
    default: "parent of the working dir",
    description:
      "Folders whose `puruto-*` children are discovered, separated by `:` or `,`. Registry entries are honoured where they point when that lies under one of them or under the parent of `PURUTO_DATA_PATH`.",
  },
  {
    name: "GATEHOUSE_PURUTO_ORG",
    check: orgRule,
    default: "$GATEHOUSE_DEFAULT_ORG",
    description:
      "Org the purutos belong to: another org's API key gets 403 on /purutos and /mcp/purutos, and another org's manifest tools of connector type `puruto` are denied (TOOL_NOT_AUTHORIZED).",
  },
  {
    name: "GATEHOUSE_SECRETS_ORG",
    check: { kind: "pattern", pattern: /^(?:\*|[a-zA-Z0-9][a-zA-Z0-9_-]{0,63})$/, what: "an org or *" },
    default: "$GATEHOUSE_DEFAULT_ORG",
    description:
      "Org whose manifest tools may name this gateway's `GATEHOUSE_SECRET_*` variables (a header's `secret_ref`) and reach its private network (`allow_private`): another org's such tools are denied (TOOL_NOT_AUTHORIZED), so one tenant cannot send another's credentials or reach the gateway's loopback. `*`: every org (orgs that trust each other).",
  },
  {
    name: "GATEHOUSE_COMMAND_TIMEOUT_MS",
    check: countRule,
    default: "30000",
    description: "A puruto command running longer is killed (at most 2147483647, a timer's range).",
  },
  {
    name: "GATEHOUSE_COMMAND_OUTPUT_LIMIT",
    check: countRule,
    default: "1048576",
    description: "Bytes of command output accepted.",
  },
  {
    name: "GATEHOUSE_EXTRA_COMMANDS",
    check: { kind: "face", problem: commandListProblem },
    default: "",
    description:
      "Skills invocable besides init/help/list/status, comma-separated `<puruto>:<skill>` entries (`puruto-financial:balance`); a bare `<skill>` trusts it in every puruto, present and future (warned at start-up), `*` = all; naming `init` runs a puruto's own `init/run` instead of the native init.",
  },
  {
    name: "GATEHOUSE_AGENT_COMMAND",
    check: { kind: "face", problem: argvProblem },
    default: "",
    description: "JSON argv of an agent that runs skills without a `run` script.",
  },
  {
    name: "GATEHOUSE_AGENT_ENV",
    check: { kind: "face", problem: variableListProblem },
    default: "",
    description: "Variable names passed to that agent, comma-separated.",
  },
  {
    name: "GATEHOUSE_MAX_CONCURRENT_COMMANDS",
    check: countRule,
    default: "16",
    description: "Puruto commands running at once, gateway-wide.",
  },
  {
    name: "GATEHOUSE_MAX_QUEUED_COMMANDS",
    check: countRule,
    default: "64",
    description:
      "Puruto command calls waiting for a free slot when all are taken; one more is refused at once (503 `COMMANDS_BUSY`, `Retry-After`). `0`: none waits.",
  },
  {
    name: "GATEHOUSE_COMMAND_PID_NAMESPACE",
    check: { kind: "oneOf", values: ["on", "off"] },
    default: "",
    description:
      "`off`: run puruto commands without their own PID and mount namespaces (`unshare`), so nothing hides the data folder from them; by default they get them when the system allows it.",
  },
  { name: "GATEHOUSE_DISCOVERY_TTL_MS", check: countRule, default: "10000", description: "Discovery cache lifetime." },
  { name: "GATEHOUSE_MANIFEST_DIR", default: "", description: "Folder of manifests registered at start-up (GitOps)." },
  {
    name: "GATEHOUSE_MANIFEST_ORG",
    check: orgRule,
    default: "$GATEHOUSE_DEFAULT_ORG",
    description: "Org those manifests belong to.",
  },
  {
    name: "GATEHOUSE_SESSION_MANIFEST",
    default: "ide-assistant",
    description: "Manifest that governs WebSocket sessions' tool calls.",
  },
  {
    name: "GATEHOUSE_SESSION_AGENTS",
    default: "",
    description:
      "Runtime agents (uapk_ids, comma-separated) whose tool calls are judged by their own manifest after a `switch_agent`; any other agent's calls are judged by `GATEHOUSE_SESSION_MANIFEST`, so an IDE user cannot pick another agent's rules or budget.",
  },
  {
    name: "GATEHOUSE_WS_CONNECTIONS_PER_IP_PER_MINUTE",
    check: countRule,
    default: "10",
    description: "WebSocket upgrades per client IP per minute.",
  },
  {
    name: "GATEHOUSE_WS_MAX_SESSIONS_PER_USER",
    check: countRule,
    default: "16",
    description:
      "Live WebSocket sessions (IDE sockets) per user (issuer, org, sub); with Redis, on every node together. One more is refused with 429 `TOO_MANY_SESSIONS`; closing a socket frees its slot. Also the runtime links per user on one node: past it, the link of the user's session detached longest is closed (it stays resumable).",
  },
  {
    name: "GATEHOUSE_WS_MESSAGES_PER_SESSION_PER_MINUTE",
    check: countRule,
    default: "100",
    description: "IDE frames per session per minute.",
  },
  {
    name: "GATEHOUSE_WS_MAX_PAYLOAD_BYTES",
    check: countRule,
    default: "1048576",
    description: "Largest IDE frame (close 1009 above).",
  },
  {
    name: "GATEHOUSE_WS_MAX_BUFFERED_BYTES",
    check: countRule,
    default: "4194304",
    description:
      'Bytes queued to a slow IDE before close 1013. Also the bytes a session\'s runtime link may hold unread by the runtime: past it, IDE frames for the runtime are refused (`AGENT_UNAVAILABLE`, `details.reason: "RUNTIME_BACKLOG"`, no ack) until the runtime reads again.',
  },
  {
    name: "GATEHOUSE_WS_REPLAY_WINDOW_MS",
    check: countRule,
    default: "120000",
    description:
      "How long a dropped session can resume. A session whose IDE closed with 1000 ends at once (buffer freed, runtime link closed, approvals cancelled): nothing to resume.",
  },
  {
    name: "GATEHOUSE_WS_SESSION_TTL_MS",
    check: countRule,
    default: "1800000",
    description:
      "A session whose IDE is attached to no node for this long ends (its runtime link closed, its pending approvals cancelled); with Redis, counted from its last activity on any node.",
  },
  {
    name: "GATEHOUSE_WS_REPLAY_MAX_BYTES",
    check: countRule,
    default: "8388608",
    description: "Replay buffer bytes per session (oldest frames dropped beyond).",
  },
  {
    name: "GATEHOUSE_WS_REPLAY_MAX_TOTAL_BYTES",
    check: countRule,
    default: "67108864",
    description: "Replay buffer bytes over every session of a node (the biggest buffer gives first).",
  },
  {
    name: "GATEHOUSE_WS_REPLAY_TRIM_INTERVAL_MS",
    check: countRule,
    default: "1000",
    description: "How often frames older than the replay window are freed, idle and dropped sessions included.",
  },
  {
    name: "GATEHOUSE_SECRET_*",
    default: "",
    description:
      'Secrets that http/webhook tool headers may reference (`{"secret_ref": "GATEHOUSE_SECRET_CRM_TOKEN"}`), read at call time, never recorded; no other variable can be named.',
  },
  {
    name: "GATEHOUSE_RATE_LIMIT_PER_API_KEY",
    check: countRule,
    default: "6000",
    description:
      "REST requests per window per API key (every API-key operation, and every MCP request but a `DELETE`: each JSON-RPC request, `tools/call` included); `0` = no limit.",
  },
  {
    name: "GATEHOUSE_RATE_LIMIT_PER_AGENT",
    check: countRule,
    default: "1200",
    description:
      "REST actions per window per `agent_id` of execute / evaluate / batch (a batch counts each action) and of MCP's governed `tools/call`; `0` = no limit.",
  },
  {
    name: "GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS",
    check: countRule,
    default: "60",
    description: "The REST rate-limit window. With Redis the limits are cluster-wide, else per node.",
  },
  {
    name: "GATEHOUSE_APPROVAL_RECHECK_MS",
    check: countRule,
    default: "1000",
    description:
      "Safety-net re-read of a waited-on approval (long-polls, held IDE tool calls); decisions on any node wake waiters at once through the event bus.",
  },
  {
    name: "GATEHOUSE_OIDC_ISSUER",
    default: "",
    description:
      "Console sign-in through this OpenID Connect provider (authorization code + PKCE; discovery at `/.well-known/openid-configuration`). Its access tokens (JWTs, not ID tokens) must verify with `JWKS_URL`, `GATEHOUSE_JWT_ISSUER` and `GATEHOUSE_JWT_AUDIENCE` and carry `org` and `roles`.",
  },
  { name: "GATEHOUSE_OIDC_CLIENT_ID", default: "", description: "The console's public client id at that provider." },
  {
    name: "GATEHOUSE_OIDC_SCOPE",
    default: "openid profile",
    description: "Scopes the console asks that provider for.",
  },
  {
    name: "GATEHOUSE_PUBLIC_URL",
    default: "",
    description:
      "This gateway's public base URL, used in the console links of approval notifications (default: its listen URL).",
  },
  {
    name: "GATEHOUSE_WEBHOOK_URL",
    default: "",
    description:
      "A webhook subscription of the default org to every approval event (`approval.created`, `.decided`, `.expired`); more per org through the API.",
  },
  {
    name: "GATEHOUSE_WEBHOOK_SECRET",
    default: "",
    description:
      "Signing secret of that subscription (`Gatehouse-Signature`), at least 32 characters; required with the URL.",
  },
  {
    name: "GATEHOUSE_WEBHOOK_FORMAT",
    default: "gatehouse",
    description:
      "Body of that subscription: `gatehouse` (JSON event) or `slack` (incoming-webhook blocks with a console link).",
  },
  {
    name: "GATEHOUSE_WEBHOOK_PRIVATE_HOSTS",
    default: "",
    description:
      "Hostnames, comma-separated, whose webhook targets may be private or loopback addresses (tests, local bridges); all others must be public.",
  },
  {
    name: "GATEHOUSE_WEBHOOK_MAX_ATTEMPTS",
    default: "8",
    description: "Tries per webhook delivery, the first included (1–20); then the delivery is `failed` in the log.",
  },
  {
    name: "GATEHOUSE_WEBHOOK_RETRY_BASE_MS",
    default: "5000",
    description: "Delay before a webhook's second try, doubled for each following one (capped at 1 h).",
  },
  {
    name: "GATEHOUSE_WEBHOOKS_PER_ORG",
    default: "20",
    description:
      "Webhook subscriptions an org may create through the API (1–1000); one more is refused with 409 `WEBHOOK_LIMIT_REACHED`.",
  },
  {
    name: "GATEHOUSE_URL",
    check: httpUrlRule,
    default: "http://127.0.0.1:8000",
    description: "CLI: Gatehouse base URL for commands over the API.",
  },
  { name: "GATEHOUSE_TOKEN", default: "", description: "CLI: operator token for commands over the API." },
  {
    name: "GATEHOUSE_API_KEY",
    default: "",
    description: "CLI `mcp-stdio`: the agent API key sent to the MCP endpoint.",
  },
  {
    name: "GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS",
    check: countRule,
    default: "25",
    description:
      "How long an escalated MCP `tools/call` waits for its approval (below the SDK clients' 60 s timeout); `0` answers pending at once.",
  },
  {
    name: "GATEHOUSE_MCP_PROGRESS_INTERVAL_MS",
    check: countRule,
    default: "5000",
    description: "A progress notification this often while an MCP call waits.",
  },
  {
    name: "GATEHOUSE_MCP_MAX_SESSIONS",
    check: countRule,
    default: "1000",
    description:
      "Open MCP sessions per node. When full, the credential holding the most gives up its least recently used one (by a request's start or end) to a credential holding fewer, and one holding as many as anyone gives up its own (never another's); a session with a call in flight never gives way (nor is closed as idle); 503 + Retry-After when none can.",
  },
  {
    name: "GATEHOUSE_MCP_SESSION_IDLE_SECONDS",
    check: countRule,
    default: "1800",
    description:
      "An unused MCP session is closed after this (with REDIS_URL: unused on every node, when its shared record expires).",
  },
];

/** The README's configuration reference, rendered from CONFIG_VARIABLES. */
export function renderConfigTable(): string {
  const rows = CONFIG_VARIABLES.map(
    (v) =>
      `| ${[v.name, ...(v.aliases ?? [])].map((n) => `\`${n}\``).join(" / ")} | ${v.default ? `\`${v.default}\`` : ""} | ${v.description} |`,
  );
  return ["| variable | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}
