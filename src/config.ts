// Gatehouse configuration from the environment. The seeds' variable names are honoured
// (PURUTO_GATEWAY_*, AGENT_RUNTIME_URL, REDIS_URL, JWKS_URL, JWKS_CACHE_TTL, LOG_LEVEL).
// A bad value stops start-up with a message that names the variable.
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseEnv } from "node:util";

export interface Config {
  host: string;
  port: number;
  /** API keys from the environment; they belong to `defaultOrg`. */
  apiKeys: string[];
  defaultOrg: string;
  dataDir: string;
  databaseFile: string;
  maxBodyBytes: number;
  /** External identity provider; unset → Gatehouse is its own development issuer. */
  jwksUrl?: string | undefined;
  jwksCacheTtlSeconds: number;
  jwtIssuer: string;
  jwtAudience: string;
  agentRuntimeUrl?: string | undefined;
  redisUrl?: string | undefined;
  /** DATABASE_URL: a postgres:// URL selects PostgreSQL (src/core/store/open-store.ts); unset → the SQLite file. */
  databaseUrl?: string | undefined;
  logLevel: string;
  /** SIGTERM: how long in-flight requests may finish before their connections are closed. */
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

function first(env: Env, ...names: string[]): [string, string] | undefined {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v !== "") return [n, v];
  }
  return undefined;
}

function integer(env: Env, names: string[], fallback: number, min: number, max: number): number {
  const found = first(env, ...names);
  if (!found) return fallback;
  const [name, raw] = found;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be a URL, got "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(" or ")}, got "${parsed.protocol}"`);
  }
  return raw;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function loadConfig(env: Env = process.env): Config {
  const host = first(env, "HOST", "PURUTO_GATEWAY_HOST")?.[1] ?? "127.0.0.1";
  const port = integer(env, ["PORT", "PURUTO_GATEWAY_PORT"], 8000, 0, 65535);
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
  const logLevel = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}`);
  const defaultOrg = env.GATEHOUSE_DEFAULT_ORG ?? "default";
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$/.test(defaultOrg)) {
    throw new ConfigError("GATEHOUSE_DEFAULT_ORG", "must be 1-64 letters, digits, '-' or '_'");
  }
  return {
    host,
    port,
    apiKeys,
    defaultOrg,
    dataDir,
    databaseFile: env.GATEHOUSE_DB ?? resolve(dataDir, "gatehouse.sqlite"),
    maxBodyBytes: integer(env, ["GATEHOUSE_MAX_BODY_BYTES"], 1024 * 1024, 1024, 64 * 1024 * 1024),
    jwksUrl: url(env, "JWKS_URL", ["http:", "https:"]),
    jwksCacheTtlSeconds: integer(env, ["JWKS_CACHE_TTL"], 3600, 1, 7 * 24 * 3600),
    jwtIssuer: env.GATEHOUSE_JWT_ISSUER ?? "gatehouse-dev",
    jwtAudience: env.GATEHOUSE_JWT_AUDIENCE ?? "gatehouse",
    agentRuntimeUrl: url(env, "AGENT_RUNTIME_URL", ["http:", "https:", "ws:", "wss:"]),
    redisUrl: url(env, "REDIS_URL", ["redis:", "rediss:"]),
    databaseUrl: url(env, "DATABASE_URL", ["postgres:", "postgresql:"]),
    logLevel,
    shutdownTimeoutMs: integer(env, ["GATEHOUSE_SHUTDOWN_TIMEOUT_MS"], 10_000, 0, 10 * 60_000),
  };
}

/**
 * Reads `.env` (when present) into `env` without overriding variables already set: the real environment
 * wins, as with docker's and compose's env files.
 */
export function readDotEnv(file = ".env", env: Env = process.env): string[] {
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
}

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
    aliases: ["PURUTO_GATEWAY_PORT"],
    default: "8000",
    description: "Port to listen on; `0` picks a free one.",
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
  { name: "GATEHOUSE_DB", default: "$GATEHOUSE_DATA_DIR/gatehouse.sqlite", description: "SQLite database file." },
  {
    name: "GATEHOUSE_SECRET",
    default: "generated in the data dir",
    description: "Installation secret for keyed hashes (API keys); set it when nodes share a database.",
  },
  { name: "GATEHOUSE_MAX_BODY_BYTES", default: "1048576", description: "Largest accepted request body (413 above)." },
  {
    name: "GATEHOUSE_SHUTDOWN_TIMEOUT_MS",
    default: "10000",
    description: "On SIGTERM, how long in-flight requests may finish before connections close.",
  },
  {
    name: "JWKS_URL",
    default: "",
    description: "JWKS of your identity provider. Unset: Gatehouse is its own development issuer.",
  },
  { name: "JWKS_CACHE_TTL", default: "3600", description: "Seconds a fetched JWKS is cached." },
  { name: "GATEHOUSE_JWT_ISSUER", default: "gatehouse-dev", description: "Expected `iss` of user tokens." },
  { name: "GATEHOUSE_JWT_AUDIENCE", default: "gatehouse", description: "Expected `aud` of user tokens." },
  {
    name: "AGENT_RUNTIME_URL",
    default: "http://127.0.0.1:8001",
    description: "Agent runtime that WebSocket sessions relay to.",
  },
  { name: "AGENT_RUNTIME_KEY", default: "", description: "Key Gatehouse presents to the agent runtime." },
  {
    name: "AGENT_RUNTIME_PORT",
    default: "8001",
    description: "Port of the embedded reference runtime (`GATEHOUSE_EMBEDDED_RUNTIME=1`, as `make run` does).",
  },
  {
    name: "GATEHOUSE_EMBEDDED_RUNTIME",
    default: "",
    description: "`1`: start the reference agent runtime in-process when `AGENT_RUNTIME_URL` is unset.",
  },
  {
    name: "REDIS_URL",
    default: "",
    description: "Redis shared by gateway nodes (rate limits, sessions). When set, /readyz needs it.",
  },
  { name: "GATEHOUSE_REDIS_PREFIX", default: "gatehouse", description: "Prefix of Gatehouse's Redis keys." },
  { name: "LOG_LEVEL", default: "info", description: "fatal, error, warn, info, debug, trace or silent (any case)." },
  { name: "PURUTO_DATA_PATH", default: "", description: "Folder holding registry.json (or the file itself)." },
  {
    name: "GATEHOUSE_ECOSYSTEM_ROOT",
    default: "parent of the working dir",
    description: "Folder whose `puruto-*` children are discovered.",
  },
  { name: "GATEHOUSE_COMMAND_TIMEOUT_MS", default: "30000", description: "A puruto command running longer is killed." },
  { name: "GATEHOUSE_COMMAND_OUTPUT_LIMIT", default: "1048576", description: "Bytes of command output accepted." },
  {
    name: "GATEHOUSE_EXTRA_COMMANDS",
    default: "",
    description: "Skills invocable besides init/help/list/status, comma-separated (`*` = all).",
  },
  {
    name: "GATEHOUSE_AGENT_COMMAND",
    default: "",
    description: "JSON argv of an agent that runs skills without a `run` script.",
  },
  { name: "GATEHOUSE_AGENT_ENV", default: "", description: "Variable names passed to that agent, comma-separated." },
  {
    name: "GATEHOUSE_MAX_CONCURRENT_COMMANDS",
    default: "16",
    description: "Puruto commands running at once, gateway-wide.",
  },
  { name: "GATEHOUSE_DISCOVERY_TTL_MS", default: "10000", description: "Discovery cache lifetime." },
  { name: "GATEHOUSE_MANIFEST_DIR", default: "", description: "Folder of manifests registered at start-up (GitOps)." },
  { name: "GATEHOUSE_MANIFEST_ORG", default: "$GATEHOUSE_DEFAULT_ORG", description: "Org those manifests belong to." },
  {
    name: "GATEHOUSE_SESSION_MANIFEST",
    default: "ide-assistant",
    description: "Manifest that governs WebSocket sessions' tool calls.",
  },
  {
    name: "GATEHOUSE_WS_CONNECTIONS_PER_IP_PER_MINUTE",
    default: "10",
    description: "WebSocket upgrades per client IP per minute.",
  },
  {
    name: "GATEHOUSE_WS_MESSAGES_PER_SESSION_PER_MINUTE",
    default: "100",
    description: "IDE frames per session per minute.",
  },
  { name: "GATEHOUSE_WS_MAX_PAYLOAD_BYTES", default: "1048576", description: "Largest IDE frame (close 1009 above)." },
  {
    name: "GATEHOUSE_WS_MAX_BUFFERED_BYTES",
    default: "4194304",
    description: "Bytes queued to a slow IDE before close 1013.",
  },
  { name: "GATEHOUSE_WS_REPLAY_WINDOW_MS", default: "120000", description: "How long a dropped session can resume." },
  {
    name: "GATEHOUSE_SECRET_*",
    default: "",
    description:
      'Secrets that http/webhook tool headers may reference (`{"secret_ref": "GATEHOUSE_SECRET_CRM_TOKEN"}`), read at call time, never recorded; no other variable can be named.',
  },
  {
    name: "GATEHOUSE_APPROVAL_RECHECK_MS",
    default: "1000",
    description:
      "Safety-net re-read of a waited-on approval (long-polls, held IDE tool calls); decisions on any node wake waiters at once through the event bus.",
  },
  {
    name: "GATEHOUSE_URL",
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
    default: "25",
    description:
      "How long an escalated MCP `tools/call` waits for its approval (below the SDK clients' 60 s timeout); `0` answers pending at once.",
  },
  {
    name: "GATEHOUSE_MCP_PROGRESS_INTERVAL_MS",
    default: "5000",
    description: "A progress notification this often while an MCP call waits.",
  },
  {
    name: "GATEHOUSE_MCP_MAX_SESSIONS",
    default: "1000",
    description: "Open MCP sessions per node (503 + Retry-After beyond).",
  },
  {
    name: "GATEHOUSE_MCP_SESSION_IDLE_SECONDS",
    default: "1800",
    description: "An unused MCP session is closed after this.",
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
