// `gatehouse migrate`: applies pending schema migrations to the configured database and says which ran.
// The server does the same at start-up; this lets an operator do it ahead of a deploy.
import { loadConfig } from "../config";
import { migrateToLatest } from "../core/store/migrate";
import { openDatabase } from "../core/store/sqlite";

export async function runMigrate(): Promise<number> {
  const config = loadConfig();
  const db = openDatabase(config.databaseFile);
  try {
    const applied = await migrateToLatest(db);
    console.log(applied.length === 0 ? "database is up to date" : `applied: ${applied.join(", ")}`);
    return 0;
  } finally {
    db.close();
  }
}
