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
  secrets?: SecretSource;
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

export function resolveSecret(source: SecretSource | undefined, name: string): string | undefined {
  const from = source ?? process.env;
  return typeof from === "function" ? from(name) : from[name];
}

export function failure(code: string, message: string, data?: unknown): ConnectorResult {
  return data === undefined ? { success: false, error: { code, message } } : { success: false, data, error: { code, message } };
}
