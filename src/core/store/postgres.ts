// The PostgreSQL backend's connection: a pg pool under Kysely's PostgresDialect. Selected by
// DATABASE_URL=postgres://… (see ./open-store.ts); the embedded default never loads a pool.
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";

import type { Database } from "./schema";

/** A Kysely over the store's tables (./schema.ts), whichever backend is behind it. */
export type AnyKysely = Kysely<Database>;

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

export interface PostgresOptions {
  /** Connections per node; every governed write holds one for one short transaction. */
  maxConnections?: number;
}

// int8 (COUNT(*), bigint sums) as a JS number: every counter here stays far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export function openPostgres(url: string, options: PostgresOptions = {}): AnyKysely {
  // Bounded waits: a database that stops answering must turn into an error (503, readiness false), not a hang.
  // (pg-pool counts the wait for a free client against connectionTimeoutMillis too, so it stays generous: the
  // readiness probe has its own short bound, see open-store.ts.)
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: 30_000,
    query_timeout: 30_000,
    keepAlive: true,
  });
  // An idle client losing its server (restart, failover) must not crash the process: the pool replaces it.
  pool.on("error", () => {});
  // A client checked out between two statements (a group-commit transaction running JS) that loses its server
  // emits 'error' with nobody listening — an uncaught exception would kill the node. Its pending or next query
  // fails (the request answers 503), and the pool drops the dead client.
  pool.on("connect", (client) => client.on("error", () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
