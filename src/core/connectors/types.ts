// A connector performs one tool call after the policy engine said ALLOW and the audit intent is written.
// It never throws for an expected failure (bad config, blocked host, timeout, upstream error): it answers
// `success: false` with a machine-readable code, so the outcome can be audited and returned to the agent.

/** Where secret values come from: a map, or a function (the registry defaults to `process.env`). */
export type SecretSource = Readonly<Record<string, string | undefined>> | ((name: string) => string | undefined);

export interface ConnectorCall {
  tool: string;
  params: Record<string, unknown>;
  /** The tool's configuration from the manifest (type, url, headers, allowed_hosts…). */
  config: Record<string, unknown>;
  /** Overrides the registry's secret source for this call. */
  secrets?: SecretSource | undefined;
  /** Aborted when the request is cancelled (client gone, shutdown). */
  signal: AbortSignal;
}

export interface ConnectorError {
  code: string;
  message: string;
}

export interface ConnectorResult {
  success: boolean;
  data?: unknown;
  error?: ConnectorError;
}

export type Connector = (call: ConnectorCall) => Promise<ConnectorResult>;

/**
 * A `secret_ref` may only name a variable with this prefix. Without it, whoever may register a manifest could
 * have the gateway's own credentials (PURUTO_GATEWAY_API_KEY, GATEHOUSE_SECRET, database URLs…) sent to a
 * host of their choosing as a header.
 */
export const SECRET_REF_PREFIX = "GATEHOUSE_SECRET_";
const SECRET_REF = /^GATEHOUSE_SECRET_[A-Za-z0-9_]+$/;

export function isAllowedSecretRef(name: string): boolean {
  return SECRET_REF.test(name);
}

/** The value of an allowed `secret_ref`; undefined for a missing one and, whatever the source holds, for any other name. */
export function resolveSecret(source: SecretSource | undefined, name: string): string | undefined {
  if (!isAllowedSecretRef(name)) return undefined;
  const from = source ?? process.env;
  return typeof from === "function" ? from(name) : from[name];
}

/** The environment as a secret source that exposes only `GATEHOUSE_SECRET_*` variables. */
export function secretsFromEnvironment(env: Readonly<Record<string, string | undefined>>): SecretSource {
  return (name) => (isAllowedSecretRef(name) ? env[name] : undefined);
}

/**
 * The failure codes a connector reports only when nothing reached the tool: refused by the tool's configuration or
 * its payload, by the network guard, before a connection existed, or never started (no command slot). A call that
 * failed so took no effect, and its budget unit is given back (governance/outcome.ts). Any other failure — a
 * timeout, a lost connection, an upstream's error answer, a command that failed — may have acted, so it stays spent:
 * budgets must not let a slow or flaky upstream carry more actions than they allow.
 */
export const NOT_SENT_FAILURES: ReadonlySet<string> = new Set([
  "CONNECTOR_MISCONFIGURED",
  "CONNECTOR_UNAVAILABLE",
  "INVALID_PARAMS",
  "SECRET_MISSING",
  "URL_NOT_ALLOWED",
  "HOST_NOT_ALLOWED",
  "ADDRESS_BLOCKED",
  "DNS_FAILED",
  "UPSTREAM_UNREACHABLE",
  "PURUTO_NOT_FOUND",
  "COMMAND_NOT_ALLOWED",
  "COMMANDS_BUSY",
]);

export function failure(code: string, message: string, data?: unknown): ConnectorResult {
  return data === undefined
    ? { success: false, error: { code, message } }
    : { success: false, data, error: { code, message } };
}
