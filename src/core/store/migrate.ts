// Applies the migrations of ./migrations that a database has not run yet. The composition root calls it
// once at start-up, before any store is created; the stores assume their tables exist.
import { Kysely } from "kysely";
import { Migrator } from "kysely/migration";
import { kyselyOver } from "./kysely";
import { MIGRATIONS } from "./migrations";
import type { Db } from "./sqlite";

export class MigrationError extends Error {
  constructor(migration: string | undefined, cause: unknown) {
    super(
      `Database migration ${migration ?? "(setup)"} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = "MigrationError";
  }
}

/** Runs every pending migration in order; returns the names it applied (empty when already up to date). */
// biome-ignore lint/suspicious/noExplicitAny: any backend, any schema.
export async function migrateToLatest(db: Db | Kysely<any>): Promise<string[]> {
  const { error, results = [] } = await migratorOver(db).migrateToLatest();
  if (error) throw new MigrationError(results.find((r) => r.status === "Error")?.migrationName, error);
  return results.filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/** The migrator over ./migrations for `db` (tests also use it to stop at an earlier migration). */
// biome-ignore lint/suspicious/noExplicitAny: any backend, any schema.
export function migratorOver(db: Db | Kysely<any>): Migrator {
  const kysely = db instanceof Kysely ? db : kyselyOver(db);
  return new Migrator({ db: kysely, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } });
}
