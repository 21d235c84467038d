// The few places where a migration cannot be written once for every backend ask this.
import { type Kysely, SqliteAdapter } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations run before any table type exists.
export function isSqlite(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter;
}
