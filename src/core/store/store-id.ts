// The store's id: a random id kept in the store itself (table store_meta, migration 0010), the same for every node
// that opens the same store — one PostgreSQL database, or one embedded SQLite file. The composition root compares
// it with the id registered by the other nodes on the same Redis prefix (src/store-claim.ts), so that nodes with
// stores of their own never believe they are one cluster.
//
// Written on first open, not by the migration: a store whose row was deleted (e.g. a copied SQLite file, to tell
// it from its original) gets a fresh id at its next start. Of several nodes opening a new store at once, one
// insert wins and all read its id.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "./schema";

export const STORE_ID_KEY = "store_id";

export async function storeIdOf(db: Kysely<Database>): Promise<string> {
  await db
    .insertInto("store_meta")
    .values({ key: STORE_ID_KEY, value: randomUUID() })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
  const row = await db.selectFrom("store_meta").select("value").where("key", "=", STORE_ID_KEY).executeTakeFirst();
  if (!row) throw new Error("store_meta: the store id could not be written");
  return row.value;
}
