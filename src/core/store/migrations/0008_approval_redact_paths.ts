// Approvals keep the redaction paths their tool's manifest named when they were asked for. Every view of an
// approval (the operator API, the console feed, webhooks) redacts its params with these AND the tool's current
// paths: a manifest that later drops a path no longer shows older approvals' values in clear, while one that adds
// a path hides them in older approvals too. JSON array of paths; null on approvals created before.
import type { Kysely } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable("approvals").addColumn("redact", "text").execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable("approvals").dropColumn("redact").execute();
}
