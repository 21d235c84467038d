// Kysely over the embedded SQLite store. Kysely runs the migrations (and, with issue 11, the queries of a
// second backend); the stores keep their prepared better-sqlite3 statements on the hot path.
import { Kysely, SqliteDialect } from "kysely";
import type { Database } from "./schema";
import type { Db } from "./sqlite";

/**
 * A Kysely instance that borrows `db`: destroying it never closes the database, which stays owned by whoever
 * opened it (the composition root or a test).
 */
export function kyselyOver(db: Db): Kysely<Database> {
  const borrowed = { prepare: (sql: string) => db.prepare(sql), close: () => {} };
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: borrowed }) });
}
