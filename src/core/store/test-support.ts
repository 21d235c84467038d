// For tests: a database with every migration applied, as the server has it after start-up — the embedded
// SQLite file, or a fresh PostgreSQL database of its own (created and dropped per test file).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrateToLatest } from "./migrate";
import { type AnyKysely, openPostgres, type PostgresOptions } from "./postgres";
import { type Db, openDatabase } from "./sqlite";

/** Every table the stores use, as the migrations create them (sorted by name). */
export const STORE_TABLES = [
  "action_budget_counters",
  "api_keys",
  "approvals",
  "audit_records",
  "capability_tokens",
  "idempotency_keys",
  "known_counterparties",
  "manifest_versions",
  "manifests",
  "signing_keys",
  "store_meta",
  "webhook_deliveries",
  "webhooks",
];

/** Opens (":memory:" by default) and migrates a database. */
export async function openMigratedDatabase(file = ":memory:"): Promise<Db> {
  const db = openDatabase(file);
  await migrateToLatest(db);
  return db;
}

/** Where the tests find PostgreSQL: GATEHOUSE_TEST_DATABASE_URL, else the local server's `test` database. */
const PG_CANDIDATES = process.env.GATEHOUSE_TEST_DATABASE_URL
  ? [process.env.GATEHOUSE_TEST_DATABASE_URL]
  : ["postgres://postgres@127.0.0.1:5432/test", "postgres://root@127.0.0.1:5432/test"];

let adminUrl: Promise<string | undefined> | undefined;

/** The first candidate URL PostgreSQL accepts, or undefined when none does. */
export function reachablePostgres(): Promise<string | undefined> {
  adminUrl ??= (async () => {
    for (const url of PG_CANDIDATES) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      try {
        await client.connect();
        await client.end();
        return url;
      } catch {
        await client.end().catch(() => {});
      }
    }
    return undefined;
  })();
  return adminUrl;
}

/**
 * Whether the PostgreSQL tests of a file run. Unreachable → they are skipped with a message naming PostgreSQL,
 * except under CI=true, where a missing database is a failure, not a skip.
 */
export async function postgresForTests(suite: string): Promise<string | undefined> {
  const url = await reachablePostgres();
  if (url) return url;
  const message = `${suite}: PostgreSQL is not reachable at ${PG_CANDIDATES.join(" or ")}`;
  if (process.env.CI === "true") throw new Error(`${message} (CI=true: PostgreSQL is required)`);
  console.warn(`${message} — skipping the PostgreSQL tests`);
  return undefined;
}

export interface TestPgDatabase {
  /** postgres:// URL of this test's own database. */
  url: string;
  /** A new Kysely over its own pool (a pool per simulated node); all are destroyed by `drop`. */
  open(maxConnections?: number, options?: PostgresOptions): AnyKysely;
  /** Opens a pool and applies the migrations. */
  openMigrated(maxConnections?: number): Promise<AnyKysely>;
  drop(): Promise<void>;
}

/**
 * CREATE DATABASE gh_<random> on the reachable server; `drop` closes every pool opened on it and drops it. With a
 * `copyOf`, the new database is a copy of that one (CREATE DATABASE … TEMPLATE: every pool on it must be closed).
 */
export async function createTestPgDatabase(admin: string, copyOf?: TestPgDatabase): Promise<TestPgDatabase> {
  const name = `gh_${randomBytes(6).toString("hex")}`;
  if (copyOf) await copyDatabase(admin, name, new URL(copyOf.url).pathname.slice(1));
  else await adminQuery(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const pools: AnyKysely[] = [];
  const open = (maxConnections = 10, options: PostgresOptions = {}) => {
    const kysely = openPostgres(url.toString(), { ...options, maxConnections });
    pools.push(kysely);
    return kysely;
  };
  return {
    url: url.toString(),
    open,
    async openMigrated(maxConnections) {
      const kysely = open(maxConnections);
      await migrateToLatest(kysely);
      return kysely;
    },
    async drop() {
      await Promise.all(pools.splice(0).map((k) => k.destroy()));
      await adminQuery(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A server process of a just-closed pool may still be ending (55006 "being accessed by other users"): retried. */
async function copyDatabase(admin: string, name: string, source: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await adminQuery(admin, `CREATE DATABASE ${name} TEMPLATE ${source}`);
    } catch (err) {
      if ((err as { code?: string }).code !== "55006" || attempt >= 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function adminQuery(admin: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * Counts turns of the event loop (one per check phase, setImmediate) until stopped: what a read of the audit chain
 * lets other requests do meanwhile. A synchronous read holds the loop and counts none; a paged read, one or more
 * between its pages.
 */
export function loopTurns(): { readonly count: number; stop(): void } {
  let count = 0;
  let running = true;
  const turn = () => {
    if (!running) return;
    count += 1;
    setImmediate(turn);
  };
  setImmediate(turn);
  return {
    get count() {
      return count;
    },
    stop: () => {
      running = false;
    },
  };
}
