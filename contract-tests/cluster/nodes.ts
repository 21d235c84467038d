// Two Gatehouse nodes in one test process, as a cluster would run them: the same shared store, the same
// REDIS_URL with a prefix unique to the run, the same installation secret and identity keys.
//
// The shared store is PostgreSQL (`openSharedPostgresStore`: a database of the test's own, DATABASE_URL), or one
// SQLite file for the tests of what Redis alone shares (rate limits, events).
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { TEST_REDIS_URL } from "../../src/core/events/redis-availability";
import { createTestPgDatabase } from "../../src/core/store/test-support";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";

export interface SharedStore {
  /** Environment every node gets to reach the one store (GATEHOUSE_DATA_DIR, later DATABASE_URL). */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

/** The embedded store shared by the nodes: one data directory (SQLite file, secret, dev issuer keys). */
export function openSharedSqliteStore(): SharedStore {
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-cluster-"));
  return {
    env: { GATEHOUSE_DATA_DIR: dataDir },
    dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** The secret every node of a test cluster shares (seals the signing keys, keys the API-key hashes). */
export const CLUSTER_SECRET = "cluster-test-secret-0123456789";

/**
 * PostgreSQL shared by the nodes: a database of its own on the reachable server (dropped by `dispose`), the
 * same GATEHOUSE_SECRET, and one data folder (what stays node-local, e.g. puruto runs; the development issuer's
 * key is in the database, see postgres-dev-issuer.test.ts).
 */
export async function openSharedPostgresStore(adminUrl: string): Promise<SharedStore> {
  const database = await createTestPgDatabase(adminUrl);
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-pg-cluster-"));
  return {
    env: { DATABASE_URL: database.url, GATEHOUSE_SECRET: CLUSTER_SECRET, GATEHOUSE_DATA_DIR: dataDir },
    async dispose() {
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TwoNodes {
  a: TestGatehouse;
  b: TestGatehouse;
  prefix: string;
  redis: Redis;
  dispose(): Promise<void>;
}

/** Nodes A and B, started one after the other (the first applies the migrations). */
export async function startTwoNodes(
  env: Record<string, string> = {},
  store: SharedStore = openSharedSqliteStore(),
): Promise<TwoNodes> {
  const prefix = `gatehouse-test-cluster-${randomUUID()}`;
  const nodeEnv = { ...store.env, REDIS_URL: TEST_REDIS_URL, GATEHOUSE_REDIS_PREFIX: prefix, ...env };
  const a = await startTestGatehouse({ env: nodeEnv });
  const b = await startTestGatehouse({ env: nodeEnv });
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  return {
    a,
    b,
    prefix,
    redis,
    async dispose() {
      await Promise.all([a.close(), b.close()]);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await store.dispose();
    },
  };
}
