// The store seam: ONE function that opens the backend an installation is configured for.
//
//   DATABASE_URL=postgres://…  → PostgreSQL (pg pool under Kysely), with the shared-state stores of ./shared
//                                (what several gateway nodes need: exact budgets, one idempotency winner,
//                                single-use approvals, one audit chain per org, signing keys sealed by
//                                GATEHOUSE_SECRET).
//   otherwise                  → the embedded SQLite file, as before (its tuned synchronous stores).
//
// Either way the migrations of ./migrations have run when it resolves.

import type { VerifyOptions } from "../audit/verify";
import { kyselyOver } from "./kysely";
import { migrateToLatest } from "./migrate";
import { type AnyKysely, isPostgresUrl, openPostgres } from "./postgres";
import { createSharedStores, type SharedStores } from "./shared";
import { type Db, openDatabase } from "./sqlite";

export interface StoreConfig {
  /** DATABASE_URL; a postgres:// or postgresql:// URL selects PostgreSQL. */
  databaseUrl?: string | undefined;
  /** The SQLite file of the embedded default. */
  databaseFile: string;
  /** GATEHOUSE_SECRET; required with PostgreSQL (it seals the shared signing keys). */
  secret?: string | Buffer | undefined;
  maxConnections?: number;
  /** The shared stores' clock (default the node's): the node aligns it on the database's (src/clock-skew.ts). */
  now?: () => Date;
  /** The shared chain's online verification (the step back GATEHOUSE_MAX_CLOCK_SKEW_MS allows its nodes). */
  verify?: VerifyOptions;
}

export type StoreBackend =
  | { kind: "sqlite"; db: Db; kysely: AnyKysely; ping(): Promise<boolean>; close(): Promise<void> }
  | { kind: "postgres"; kysely: AnyKysely; shared: SharedStores; ping(): Promise<boolean>; close(): Promise<void> };

export class StoreConfigError extends Error {}

export async function openStore(config: StoreConfig): Promise<StoreBackend> {
  if (isPostgresUrl(config.databaseUrl)) return openPostgresStore(config.databaseUrl, config);
  const db = openDatabase(config.databaseFile);
  await migrateToLatest(db);
  const kysely = kyselyOver(db);
  return {
    kind: "sqlite",
    db,
    kysely,
    ping: async () => db.prepare("SELECT 1 AS ok").get() !== undefined,
    close: async () => {
      await kysely.destroy();
      db.close();
    },
  };
}

async function openPostgresStore(url: string, config: StoreConfig): Promise<StoreBackend> {
  if (!config.secret || config.secret.length < 16) {
    throw new StoreConfigError(
      "DATABASE_URL selects PostgreSQL: set GATEHOUSE_SECRET (≥ 16 characters, the same on every node)",
    );
  }
  // Migrations on a connection of their own, without the transaction bounds: a node starting beside others may
  // rightly wait for their migration lock longer than a governed write may wait for a chain lock.
  const migrations = openPostgres(url, { maxConnections: 1, unbounded: true });
  try {
    await migrateToLatest(migrations);
  } finally {
    await migrations.destroy();
  }
  const kysely = openPostgres(
    url,
    config.maxConnections === undefined ? {} : { maxConnections: config.maxConnections },
  );
  // Readiness has a connection of its own: a busy pool (every client in use under load) is not a database down.
  const probe = openPostgres(url, { maxConnections: 1 });
  return {
    kind: "postgres",
    kysely,
    shared: createSharedStores(kysely, {
      secret: config.secret,
      ...(config.now ? { now: config.now } : {}),
      ...(config.verify ? { verify: config.verify } : {}),
    }),
    ping: () => pingPostgres(probe),
    close: async () => {
      await probe.destroy();
      await kysely.destroy();
    },
  };
}

/** A database that has not answered a ping within this bound counts as down. */
const PING_TIMEOUT_MS = 2000;

/** Readiness: false when the database does not answer in time (the caller fails closed). */
async function pingPostgres(kysely: AnyKysely): Promise<boolean> {
  const { sql } = await import("kysely");
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((ok) => {
    timer = setTimeout(() => ok(false), PING_TIMEOUT_MS);
  });
  const answered = sql`SELECT 1`.execute(kysely).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([answered, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
