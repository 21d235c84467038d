// The MCP face's settings, from the environment. A bad value stops start-up with a message naming the variable.
export interface McpOptions {
  /** GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS: how long a tools/call that ESCALATEs waits for the approval. */
  approvalWaitMs: number;
  /** GATEHOUSE_MCP_PROGRESS_INTERVAL_MS: a progress notification this often while a call waits. */
  progressIntervalMs: number;
  /** GATEHOUSE_MCP_MAX_SESSIONS: open MCP sessions on this node, at most. */
  maxSessions: number;
  /** GATEHOUSE_MCP_SESSION_IDLE_SECONDS (at least 60, longer than a call's approval wait should be): an unused session is closed. */
  sessionIdleMs: number;
}

export const DEFAULT_MCP_OPTIONS: McpOptions = {
  // Below the 60 s default request timeout of the official SDK clients, so a waiting call answers before they give up.
  approvalWaitMs: 25_000,
  progressIntervalMs: 5_000,
  maxSessions: 1_000,
  sessionIdleMs: 30 * 60_000,
};

function integer(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`Invalid configuration: ${name} must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new Error(`Invalid configuration: ${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function mcpOptionsFromEnv(env: Record<string, string | undefined>): McpOptions {
  const d = DEFAULT_MCP_OPTIONS;
  return {
    approvalWaitMs: integer(env, "GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS", d.approvalWaitMs / 1000, 0, 3600) * 1000,
    progressIntervalMs: integer(env, "GATEHOUSE_MCP_PROGRESS_INTERVAL_MS", d.progressIntervalMs, 50, 600_000),
    maxSessions: integer(env, "GATEHOUSE_MCP_MAX_SESSIONS", d.maxSessions, 1, 1_000_000),
    sessionIdleMs: integer(env, "GATEHOUSE_MCP_SESSION_IDLE_SECONDS", d.sessionIdleMs / 1000, 60, 7 * 24 * 3600) * 1000,
  };
}
