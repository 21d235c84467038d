// For tests: a database with every migration applied, as the server has it after start-up.
import { migrateToLatest } from "./migrate";
import { type Db, openDatabase } from "./sqlite";

/** Opens (":memory:" by default) and migrates a database. */
export async function openMigratedDatabase(file = ":memory:"): Promise<Db> {
  const db = openDatabase(file);
  await migrateToLatest(db);
  return db;
}
