// `gatehouse migrate`: applies pending schema migrations to the configured database and says which ran.
// The server does the same at start-up; this lets an operator do it ahead of a deploy. DATABASE_URL=postgres://…
// migrates the PostgreSQL database (several nodes starting at once are serialised by the migrator's lock).
import { loadConfig } from "../config";
import { migrateToLatest } from "../core/store/migrate";
import { isPostgresUrl, openPostgres } from "../core/store/postgres";
import { openDatabase } from "../core/store/sqlite";

export async function runMigrate(): Promise<number> {
  const config = loadConfig();
  if (isPostgresUrl(config.databaseUrl)) {
    const kysely = openPostgres(config.databaseUrl, { maxConnections: 1 });
    try {
      report(await migrateToLatest(kysely));
      return 0;
    } finally {
      await kysely.destroy();
    }
  }
  const db = openDatabase(config.databaseFile);
  try {
    report(await migrateToLatest(db));
    return 0;
  } finally {
    db.close();
  }
}

function report(applied: string[]): void {
  console.log(applied.length === 0 ? "database is up to date" : `applied: ${applied.join(", ")}`);
}
