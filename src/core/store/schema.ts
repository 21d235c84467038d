// The store's tables as TypeScript types: what the migrations in ./migrations create (0001 … 0010), for Kysely's
// typed queries on both backends (the embedded SQLite stores through ./sqlite-query.ts, the shared PostgreSQL
// stores of ./shared). A new migration that changes a table changes its type here too.
//
// Column types are what both drivers hand back and accept: JSON columns are text (the stores stringify and
// parse), instants are ISO 8601 text, binary columns (SQLite blob / PostgreSQL bytea) are Buffers, and booleans
// are integers 0/1 (SQLite has no boolean type).

import type { AuditRecordKind } from "../audit/record";

/**
 * `action_budget_counters`: one row per budget scope and window (hour number, or 0 for a lifetime budget). `count`
 * is BIGINT on PostgreSQL (0009; read back as a string there, so readers take `Number(count)`).
 */
export interface ActionBudgetCountersTable {
  scope: string;
  window: number;
  count: number;
}

export interface ApiKeysTable {
  key_id: string;
  org_id: string;
  label: string;
  key_hash: Buffer;
  created_at: string;
  revoked_at: string | null;
}

export interface ApprovalsTable {
  approval_id: string;
  org_id: string;
  uapk_id: string;
  agent_id: string;
  action: string;
  counterparty: string | null;
  context: string | null;
  reasons: string;
  binding_hash: string;
  status: "pending" | "approved" | "denied" | "expired" | "consumed" | "cancelled";
  interaction_id: string | null;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  decision_reason: string | null;
  consumed_at: string | null;
  consumed_by_interaction_id: string | null;
  /** Migration 0004; null on approvals created before it. */
  risk: string | null;
  /** Migration 0008: JSON array of the tool's redaction paths at creation; null on approvals created before it. */
  redact: string | null;
}

export interface AuditRecordsTable {
  org_id: string;
  seq: number;
  kind: AuditRecordKind;
  interaction_id: string;
  timestamp: string;
  uapk_id: string | null;
  agent_id: string | null;
  action: string | null;
  decision: "ALLOW" | "DENY" | "ESCALATE" | null;
  reasons: string | null;
  policy_trace: string | null;
  approval_id: string | null;
  executed: number | null;
  result: string | null;
  meta: string | null;
  prev_hash: string;
  kid: string;
  hash: string;
  /** "" stands for null (a record signed by its group's last one): the column predates unsigned records. */
  signature: string;
}

export interface CapabilityTokensTable {
  token_id: string;
  org_id: string;
  issuer_id: string;
  agent_id: string;
  manifest_id: string;
  uapk_id: string;
  capabilities: string;
  constraints: string | null;
  kid: string;
  issued_at: string;
  expires_at: string;
  revoked_at: string | null;
  revoke_reason: string | null;
  /** The operator (their `sub`) who issued the token; null on tokens issued before migration 0011. */
  issued_by: string | null;
  /** The operator who revoked it; null while not revoked, and on revocations before migration 0011. */
  revoked_by: string | null;
}

export interface IdempotencyKeysTable {
  org_id: string;
  agent_id: string;
  key: string;
  request_hash: string;
  state: "in_flight" | "completed";
  status: number | null;
  response: string | null;
  created_at: string;
  completed_at: string | null;
  expires_at: string;
  /** Migration 0007: the process holding an in-flight claim, and until when (ISO) it is known alive. */
  owner: string | null;
  lease_until: string | null;
  /** Migration 0007: the interaction whose intent the owner is about to reserve (set ⇒ the call may have run). */
  interaction_id: string | null;
}

export interface KnownCounterpartiesTable {
  org_id: string;
  uapk_id: string;
  counterparty: string;
  first_seen: string;
}

export interface ManifestsTable {
  manifest_id: string;
  org_id: string;
  uapk_id: string;
  status: "active" | "suspended" | "revoked";
  body: string;
  created_at: string;
  updated_at: string;
  /** Migration 0003: the number of the latest version. */
  version: number;
}

export interface ManifestVersionsTable {
  org_id: string;
  manifest_id: string;
  version: number;
  content_hash: string;
  content: string;
  status: "active" | "suspended" | "revoked";
  change: string;
  author: string;
  created_at: string;
}

export interface SigningKeysTable {
  purpose: string;
  kid: string;
  public_jwk: string;
  private_pkcs8: string | null;
  status: "active" | "verify_only";
  created_at: string;
  rotated_at: string | null;
}

export interface WebhooksTable {
  webhook_id: string;
  org_id: string;
  url: string;
  format: "gatehouse" | "slack";
  events: string;
  secret_sealed: string;
  description: string | null;
  created_at: string;
}

export interface WebhookDeliveriesTable {
  delivery_id: string;
  org_id: string;
  webhook_id: string;
  event_id: string;
  event: string;
  approval_id: string;
  url: string;
  body: string;
  status: "pending" | "delivered" | "failed";
  attempts: string;
  attempt_count: number;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

/** `store_meta` (0010): facts about the store itself, e.g. `store_id` (./store-id.ts). */
export interface StoreMetaTable {
  key: string;
  value: string;
}

/** Every table of the store (the names are STORE_TABLES of ./test-support.ts). */
export interface Database {
  action_budget_counters: ActionBudgetCountersTable;
  api_keys: ApiKeysTable;
  approvals: ApprovalsTable;
  audit_records: AuditRecordsTable;
  capability_tokens: CapabilityTokensTable;
  idempotency_keys: IdempotencyKeysTable;
  known_counterparties: KnownCounterpartiesTable;
  manifest_versions: ManifestVersionsTable;
  manifests: ManifestsTable;
  signing_keys: SigningKeysTable;
  store_meta: StoreMetaTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhooks: WebhooksTable;
}
