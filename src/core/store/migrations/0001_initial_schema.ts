// The schema as the stores created it themselves before migrations existed: same tables, columns, keys,
// checks and indexes. Everything is `if not exists`, so on a database made by that code this migration
// changes nothing and only records itself as applied.
//
// Written with Kysely's schema builder so that it also runs on PostgreSQL. Two things have no neutral form
// and branch on the dialect (see `sqliteOnly` and `binary`):
//   - `WITHOUT ROWID` (a SQLite storage option for tables keyed by a composite primary key; PostgreSQL has
//     no rowid to leave out),
//   - the binary column type: SQLite's `blob` is PostgreSQL's `bytea`.
import { type Kysely, sql } from "kysely";
import { isSqlite } from "./dialect";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

const oneOf = (column: string, values: string[]) =>
  sql`${sql.ref(column)} IN (${sql.join(values.map((v) => sql.lit(v)))})`;

export async function up(db: AnyDb): Promise<void> {
  for (const step of [apiKeys, manifests, knownCounterparties, budgetCounters, capabilityTokens, signingKeys])
    await step(db);
  for (const step of [auditRecords, approvals, idempotencyKeys]) await step(db);
}

// No `down`: the first migration is the whole schema, and undoing it would mean dropping every table.

/** `WITHOUT ROWID` on SQLite, nothing elsewhere. */
function sqliteOnlyWithoutRowid(db: AnyDb) {
  return isSqlite(db) ? sql`without rowid` : sql``;
}

function binary(db: AnyDb) {
  return isSqlite(db) ? "blob" : "bytea";
}

async function apiKeys(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("api_keys")
    .ifNotExists()
    .addColumn("key_id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("label", "text", (c) => c.notNull())
    .addColumn("key_hash", binary(db), (c) => c.notNull().unique())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("revoked_at", "text")
    .execute();
}

async function manifests(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("manifests")
    .ifNotExists()
    .addColumn("manifest_id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("uapk_id", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(oneOf("status", ["active", "suspended", "revoked"])))
    .addColumn("body", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addUniqueConstraint("manifests_org_uapk", ["org_id", "uapk_id"])
    .execute();
}

async function knownCounterparties(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("known_counterparties")
    .ifNotExists()
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("uapk_id", "text", (c) => c.notNull())
    .addColumn("counterparty", "text", (c) => c.notNull())
    .addColumn("first_seen", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("known_counterparties_pk", ["org_id", "uapk_id", "counterparty"])
    .modifyEnd(sqliteOnlyWithoutRowid(db))
    .execute();
}

async function budgetCounters(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("action_budget_counters")
    .ifNotExists()
    .addColumn("scope", "text", (c) => c.notNull())
    .addColumn("window", "integer", (c) => c.notNull())
    .addColumn("count", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("action_budget_counters_pk", ["scope", "window"])
    .modifyEnd(sqliteOnlyWithoutRowid(db))
    .execute();
}

async function capabilityTokens(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("capability_tokens")
    .ifNotExists()
    .addColumn("token_id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("issuer_id", "text", (c) => c.notNull())
    .addColumn("agent_id", "text", (c) => c.notNull())
    .addColumn("manifest_id", "text", (c) => c.notNull())
    .addColumn("uapk_id", "text", (c) => c.notNull())
    .addColumn("capabilities", "text", (c) => c.notNull())
    .addColumn("constraints", "text")
    .addColumn("kid", "text", (c) => c.notNull())
    .addColumn("issued_at", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .addColumn("revoked_at", "text")
    .addColumn("revoke_reason", "text")
    .execute();
  await db.schema
    .createIndex("capability_tokens_org")
    .ifNotExists()
    .on("capability_tokens")
    .columns(["org_id", "issued_at"])
    .execute();
}

async function signingKeys(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("signing_keys")
    .ifNotExists()
    .addColumn("purpose", "text", (c) => c.notNull())
    .addColumn("kid", "text", (c) => c.notNull())
    .addColumn("public_jwk", "text", (c) => c.notNull())
    .addColumn("private_pkcs8", "text")
    .addColumn("status", "text", (c) => c.notNull().check(oneOf("status", ["active", "verify_only"])))
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("rotated_at", "text")
    .addPrimaryKeyConstraint("signing_keys_pk", ["purpose", "kid"])
    .execute();
  await db.schema
    .createIndex("signing_keys_one_active_per_purpose")
    .ifNotExists()
    .unique()
    .on("signing_keys")
    .column("purpose")
    .where(sql.ref("status"), "=", "active")
    .execute();
}

async function auditRecords(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("audit_records")
    .ifNotExists()
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("seq", "integer", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("interaction_id", "text", (c) => c.notNull())
    .addColumn("timestamp", "text", (c) => c.notNull())
    .addColumn("uapk_id", "text")
    .addColumn("agent_id", "text")
    .addColumn("action", "text")
    .addColumn("decision", "text")
    .addColumn("reasons", "text")
    .addColumn("policy_trace", "text")
    .addColumn("approval_id", "text")
    .addColumn("executed", "integer")
    .addColumn("result", "text")
    .addColumn("meta", "text")
    .addColumn("prev_hash", "text", (c) => c.notNull())
    .addColumn("kid", "text", (c) => c.notNull())
    .addColumn("hash", "text", (c) => c.notNull())
    .addColumn("signature", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("audit_records_pk", ["org_id", "seq"])
    .modifyEnd(sqliteOnlyWithoutRowid(db))
    .execute();
  await db.schema
    .createIndex("audit_records_interaction")
    .ifNotExists()
    .on("audit_records")
    .columns(["org_id", "interaction_id"])
    .execute();
  await db.schema
    .createIndex("audit_records_agent")
    .ifNotExists()
    .on("audit_records")
    .columns(["org_id", "agent_id", "seq"])
    .execute();
}

async function approvals(db: AnyDb): Promise<void> {
  const statuses = ["pending", "approved", "denied", "expired", "consumed"];
  await db.schema
    .createTable("approvals")
    .ifNotExists()
    .addColumn("approval_id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("uapk_id", "text", (c) => c.notNull())
    .addColumn("agent_id", "text", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("counterparty", "text")
    .addColumn("context", "text")
    .addColumn("reasons", "text", (c) => c.notNull())
    .addColumn("binding_hash", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(oneOf("status", statuses)))
    .addColumn("interaction_id", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .addColumn("decided_at", "text")
    .addColumn("decided_by", "text")
    .addColumn("decision_reason", "text")
    .addColumn("consumed_at", "text")
    .addColumn("consumed_by_interaction_id", "text")
    .execute();
  await db.schema
    .createIndex("approvals_org_status")
    .ifNotExists()
    .on("approvals")
    .columns(["org_id", "status", "created_at"])
    .execute();
  // At most one pending approval per binding: concurrent identical ESCALATEs share it.
  await db.schema
    .createIndex("approvals_one_pending_per_binding")
    .ifNotExists()
    .unique()
    .on("approvals")
    .columns(["org_id", "binding_hash"])
    .where(sql.ref("status"), "=", "pending")
    .execute();
}

async function idempotencyKeys(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("idempotency_keys")
    .ifNotExists()
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("agent_id", "text", (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("request_hash", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull().check(oneOf("state", ["in_flight", "completed"])))
    .addColumn("status", "integer")
    .addColumn("response", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("completed_at", "text")
    .addColumn("expires_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("idempotency_keys_pk", ["org_id", "agent_id", "key"])
    .execute();
  await db.schema
    .createIndex("idempotency_keys_expiry")
    .ifNotExists()
    .on("idempotency_keys")
    .column("expires_at")
    .execute();
}
