// Expiry of open approvals is found through an index on `expires_at`, not by reading every pending row: with
// thousands of approvals waiting for an operator, each create / read / list used to walk all of them (the
// org/status index orders by `created_at`) to find the few that are overdue.
//   approvals_open_expiry_org  org-scoped sweep (create, read, list of one org)
//   approvals_open_expiry      gateway-wide sweep (the store's timer)
import type { Kysely } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createIndex("approvals_open_expiry_org")
    .ifNotExists()
    .on("approvals")
    .columns(["org_id", "status", "expires_at"])
    .execute();
  await db.schema
    .createIndex("approvals_open_expiry")
    .ifNotExists()
    .on("approvals")
    .columns(["status", "expires_at"])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex("approvals_open_expiry_org").ifExists().execute();
  await db.schema.dropIndex("approvals_open_expiry").ifExists().execute();
}
