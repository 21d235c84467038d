// Two Gatehouse nodes in one test process, as a cluster would run them: the same shared store, the same
// REDIS_URL with a prefix unique to the run, the same installation secret and identity keys.
//
// The shared store is one SQLite file today (two connections on one file: what the nodes share is what they
// would share on PostgreSQL). `SharedStore` is the seam for the PostgreSQL backend: a test that needs the
// real thing passes a store whose env carries DATABASE_URL (and its own database) instead.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { TEST_REDIS_URL } from "../../src/core/events/redis-availability";
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
