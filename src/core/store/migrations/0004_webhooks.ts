// Approval notifications (src/core/notifications): per-org webhook subscriptions and the delivery log; and the
// approvals' risk snapshot, which the notifications and the console show.
//
// `webhook_deliveries` has one row per (subscription, event): the unique key is what lets every gateway node
// hear the same event on the bus while exactly one of them (the one whose insert wins) delivers it. The
// attempts are kept as a JSON array on the row: an operator reads a delivery with all its tries at once.
import { type Kysely, sql } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

const oneOf = (column: string, values: string[]) =>
  sql`${sql.ref(column)} IN (${sql.join(values.map((v) => sql.lit(v)))})`;

export async function up(db: AnyDb): Promise<void> {
  // The risk picture an operator weighs (amount, recipients, reason codes, budget use), JSON, taken when the
  // approval is created; null on the approvals created before.
  await db.schema.alterTable("approvals").addColumn("risk", "text").execute();
  await db.schema
    .createTable("webhooks")
    .addColumn("webhook_id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("format", "text", (c) => c.notNull().check(oneOf("format", ["gatehouse", "slack"])))
    // JSON array of event types.
    .addColumn("events", "text", (c) => c.notNull())
    // Sealed with the installation secret (secret-box): a database dump alone cannot forge signatures.
    .addColumn("secret_sealed", "text", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("webhooks_org").on("webhooks").columns(["org_id", "created_at"]).execute();

  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("delivery_id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull())
    // No foreign key: the environment's default subscription (`env-default`) has no row in `webhooks`, and the
    // log of a removed subscription stays readable.
    .addColumn("webhook_id", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("approval_id", "text", (c) => c.notNull())
    .addColumn("url", "text", (c) => c.notNull())
    // The exact body sent on every try (the signature covers it with each try's timestamp).
    .addColumn("body", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(oneOf("status", ["pending", "delivered", "failed"])))
    .addColumn("attempts", "text", (c) => c.notNull())
    .addColumn("attempt_count", "integer", (c) => c.notNull())
    .addColumn("next_attempt_at", "text")
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("delivered_at", "text")
    .addUniqueConstraint("webhook_deliveries_once", ["webhook_id", "org_id", "event_id"])
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_org")
    .on("webhook_deliveries")
    .columns(["org_id", "created_at"])
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_due")
    .on("webhook_deliveries")
    .columns(["status", "next_attempt_at"])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable("webhook_deliveries").execute();
  await db.schema.dropTable("webhooks").execute();
  await db.schema.alterTable("approvals").dropColumn("risk").execute();
}
