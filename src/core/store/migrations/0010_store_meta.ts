// Facts about the store itself, one row per key. The first is `store_id` (./store-id.ts): a random id written
// once by the first node that opens the store, so that nodes can tell whether they share one store. Every node on
// one PostgreSQL database reads the same id; every embedded SQLite file has its own.
import type { Kysely } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("store_meta")
    .ifNotExists()
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable("store_meta").ifExists().execute();
}
