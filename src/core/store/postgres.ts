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
  /** Without the transaction bounds below (the migrations: their locks may rightly wait for other nodes). */
  unbounded?: boolean;
  /** IDLE_IN_TRANSACTION_MS unless given (tests). */
  idleInTransactionMs?: number;
}

/**
 * Bounds on what one connection's transaction may hold up, set at connect time. A node that stops while inside
 * a transaction (SIGSTOP, a VM paused, a half-open connection) holds its org's chain lock, and every node's
 * governed writes of that org wait behind it, for as long as it stays stopped. PostgreSQL ends such a transaction
 * (and its session) once it has been idle this long: nothing it wrote commits, and its node's requests fail 503.
 * Group-commit transactions send their statements back to back, milliseconds apart.
 */
export const IDLE_IN_TRANSACTION_MS = 5_000;
/** A statement waits this long for a lock (behind a stopped node: up to IDLE_IN_TRANSACTION_MS), then fails 503. */
export const LOCK_TIMEOUT_MS = 15_000;

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
    ...(options.unbounded
      ? {}
      : {
          idle_in_transaction_session_timeout: options.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS,
          lock_timeout: LOCK_TIMEOUT_MS,
        }),
  });
  // An idle client losing its server (restart, failover) must not crash the process: the pool replaces it.
  pool.on("error", () => {});
  // A client checked out between two statements (a group-commit transaction running JS) that loses its server
  // emits 'error' with nobody listening — an uncaught exception would kill the node. Its pending or next query
  // fails (the request answers 503), and the pool drops the dead client.
  pool.on("connect", (client) => client.on("error", () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
