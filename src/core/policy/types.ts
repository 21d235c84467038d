// Shapes of the governed-actions policy engine. They mirror spec/gateway.tsp and spec/orgs.tsp (the
// wire format), but the engine is HTTP-free: the same pipeline decides REST calls and tool_calls that
// arrive over an agent session.

export type Decision = "ALLOW" | "DENY" | "ESCALATE";
export type CheckResult = "pass" | "fail" | "skip" | "escalate";

/** DENY codes (seed 003, plus Gatehouse's fail-closed AMOUNT_UNVERIFIABLE). */
export type DenyCode =
  | "MANIFEST_NOT_FOUND"
  | "MANIFEST_INACTIVE"
  | "INVALID_TOKEN"
  | "TOKEN_EXPIRED"
  | "TOKEN_REVOKED"
  | "ACTION_NOT_ALLOWED"
  | "TOOL_NOT_AUTHORIZED"
  | "CAPABILITY_MISSING"
  | "BUDGET_EXCEEDED"
  | "JURISDICTION_BLOCKED"
  | "COUNTERPARTY_BLOCKED"
  | "AMOUNT_UNVERIFIABLE";

export type EscalateCode = "REQUIRES_APPROVAL" | "AMOUNT_THRESHOLD" | "NEW_COUNTERPARTY" | "HIGH_RISK_ACTION";

export interface Reason {
  code: DenyCode | EscalateCode;
  message: string;
}

export interface Action {
  type: string;
  tool: string;
  params: Record<string, unknown>;
  amount?: number;
  currency?: string;
  counterparty?: string;
  jurisdiction?: string;
}

export interface PolicyTraceEntry {
  check: string;
  result: CheckResult;
  details?: Record<string, unknown>;
}

export interface RiskSnapshot {
  budget_current: number;
  budget_limit: number;
  budget_percent: number;
}

/** What the pipeline is asked to decide. */
export interface ActionRequest {
  uapk_id: string;
  agent_id: string;
  capability_token?: string;
  action: Action;
  approval_id?: string;
  context?: Record<string, unknown>;
}

// ── Manifests ──────────────────────────────────────────────────────────────────────────────────

export type ConnectorType = "echo" | "noop" | "http" | "webhook" | "puruto";

/** A header value injected from a secret (environment variable) at call time. */
export interface SecretHeaderValue {
  secret_ref: string;
  prefix?: string;
}

/**
 * A tool's connector, in the vocabulary the connectors of src/core/connectors read (http.ts, puruto.ts):
 * spec/orgs.tsp `ConnectorConfig`; checked by manifest-validation.ts at registration.
 */
export interface ConnectorConfig {
  type: ConnectorType;
  /** http/webhook: URL template with `{param}` placeholders (URL-encoded). */
  url?: string;
  method?: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  headers?: Record<string, string | SecretHeaderValue>;
  /** http/webhook: deny-by-default host allow list (`api.example.com`, `*.example.com`). */
  allowed_hosts?: string[];
  /** http/webhook: may reach private/loopback/link-local addresses. */
  allow_private?: boolean;
  timeout_ms?: number;
  max_response_bytes?: number;
  puruto?: string;
  command?: string;
}

export interface ToolConfig {
  connector: ConnectorConfig;
  description?: string;
  redact?: string[];
}

export interface AmountThreshold {
  amount: number;
  currency: string;
  actions?: string[];
}

export interface ManifestPolicy {
  counterparty_allowlist?: string[];
  counterparty_blocklist?: string[];
  escalate_new_counterparties?: boolean;
  jurisdiction_allowlist?: string[];
  jurisdiction_blocklist?: string[];
  amount_threshold?: AmountThreshold;
  high_risk_actions?: string[];
  require_capability_token?: boolean;
}

export interface ManifestInput {
  /** Client-chosen stable id (GitOps); generated when absent. */
  manifest_id?: string;
  uapk_id: string;
  agent: { id: string; name: string; version?: string; organization?: string };
  capabilities: string[];
  constraints?: { max_actions_per_hour?: number; require_human_approval?: string[] };
  policy?: ManifestPolicy;
  tools: Record<string, ToolConfig>;
}

export type ManifestStatus = "active" | "suspended" | "revoked";

export interface Manifest extends ManifestInput {
  manifest_id: string;
  org_id: string;
  status: ManifestStatus;
  created_at: string;
  updated_at: string;
}

/** `type:tool` — the key of capabilities, tools, approval and risk lists. */
export function capabilityOf(action: Pick<Action, "type" | "tool">): string {
  return `${action.type}:${action.tool}`;
}
