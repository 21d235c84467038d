// Budget counters hold money budgets too (`constraints.max_amount_per_hour`, in millionths of the currency): a
// PostgreSQL `integer` stops at 2^31 - 1 millionths, about 2,147 units of a currency. BIGINT on PostgreSQL; SQLite's
// INTEGER is 64-bit already.
import type { Kysely } from "kysely";
import { isSqlite } from "./dialect";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  if (isSqlite(db)) return;
  await db.schema
    .alterTable("action_budget_counters")
    .alterColumn("count", (c) => c.setDataType("bigint"))
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  if (isSqlite(db)) return;
  await db.schema
    .alterTable("action_budget_counters")
    .alterColumn("count", (c) => c.setDataType("integer"))
    .execute();
}
