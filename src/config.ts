// Gatehouse configuration from the environment. The seeds' variable names are honoured
// (PURUTO_GATEWAY_*, AGENT_RUNTIME_URL, REDIS_URL, JWKS_URL, JWKS_CACHE_TTL, LOG_LEVEL).
// A bad value stops start-up with a message that names the variable.
import { resolve } from "node:path";

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
  jwksUrl?: string;
  jwksCacheTtlSeconds: number;
  jwtIssuer: string;
  jwtAudience: string;
  agentRuntimeUrl?: string;
  redisUrl?: string;
  /** DATABASE_URL: a postgres:// URL selects PostgreSQL (src/core/store/open-store.ts); unset → the SQLite file. */
  databaseUrl?: string | undefined;
  logLevel: string;
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
    ...(env.GATEHOUSE_API_KEYS ?? "").split(",").map((k) => k.trim()).filter(Boolean),
  ];
  for (const k of apiKeys) {
    if (k.length < 8 && k !== "changeme") throw new ConfigError("PURUTO_GATEWAY_API_KEY", "must be at least 8 characters");
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
  };
}
