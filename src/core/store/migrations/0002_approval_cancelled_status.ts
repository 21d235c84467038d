// Approvals gain the `cancelled` status: a pending (or approved, unused) approval whose agent session was
// cancelled or abandoned is resolved as cancelled, so it can never be used afterwards.
//
// The allowed statuses are a CHECK constraint. PostgreSQL swaps the constraint; SQLite cannot alter a
// CHECK, so the table is rebuilt (same columns and indexes, rows copied) inside the migration's transaction.
import { type Kysely, sql } from "kysely";
import { isSqlite } from "./dialect";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

const STATUSES = ["pending", "approved", "denied", "expired", "consumed", "cancelled"];
const statusCheck = sql`${sql.ref("status")} IN (${sql.join(STATUSES.map((v) => sql.lit(v)))})`;

export async function up(db: AnyDb): Promise<void> {
  if (!isSqlite(db)) {
    await sql`ALTER TABLE approvals DROP CONSTRAINT IF EXISTS approvals_status_check`.execute(db);
    await sql`ALTER TABLE approvals ADD CONSTRAINT approvals_status_check CHECK (${statusCheck})`.execute(db);
    return;
  }
  await createApprovalsTable(db, "approvals_next");
  await sql`INSERT INTO approvals_next SELECT * FROM approvals`.execute(db);
  await db.schema.dropTable("approvals").execute();
  await sql`ALTER TABLE approvals_next RENAME TO approvals`.execute(db);
  await createApprovalIndexes(db);
}

/** The columns of 0001, in the same order (the copy above relies on it), with the wider status check. */
async function createApprovalsTable(db: AnyDb, name: string): Promise<void> {
  await db.schema
    .createTable(name)
    .addColumn("approval_id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("uapk_id", "text", (c) => c.notNull())
    .addColumn("agent_id", "text", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("counterparty", "text")
    .addColumn("context", "text")
    .addColumn("reasons", "text", (c) => c.notNull())
    .addColumn("binding_hash", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(statusCheck))
    .addColumn("interaction_id", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .addColumn("decided_at", "text")
    .addColumn("decided_by", "text")
    .addColumn("decision_reason", "text")
    .addColumn("consumed_at", "text")
    .addColumn("consumed_by_interaction_id", "text")
    .execute();
}

async function createApprovalIndexes(db: AnyDb): Promise<void> {
  await db.schema
    .createIndex("approvals_org_status")
    .on("approvals")
    .columns(["org_id", "status", "created_at"])
    .execute();
  await db.schema
    .createIndex("approvals_one_pending_per_binding")
    .unique()
    .on("approvals")
    .columns(["org_id", "binding_hash"])
    .where(sql.ref("status"), "=", "pending")
    .execute();
}
