// Nodes on one Redis prefix must share one store (./store-claim.ts): a node on an embedded SQLite file of its own
// beside running nodes on another store stops at start-up, naming the fix; nodes on one PostgreSQL database, and a
// node restarting on its own file, start. Real server (startGatehouse), the local Redis and PostgreSQL.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { shouldRunRedisTests, TEST_REDIS_URL } from "./core/events/redis-availability";
import { createTestPgDatabase, postgresForTests, type TestPgDatabase } from "./core/store/test-support";
import { storeClaimKey } from "./store-claim";
import { startTestGatehouse, type TestGatehouse } from "./test-support/gatehouse";

const runRedis = await shouldRunRedisTests("store claim tests");
const pgAdmin = await postgresForTests("store claim tests on PostgreSQL");

const running: TestGatehouse[] = [];
const dirs: string[] = [];
const prefixes: string[] = [];
const databases: TestPgDatabase[] = [];
const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });

afterEach(async () => {
  for (const g of running.splice(0)) await g.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  for (const db of databases.splice(0)) await db.drop();
  for (const prefix of prefixes.splice(0)) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
  }
});
afterAll(() => redis.disconnect());

function newPrefix(): string {
  const prefix = `gatehouse-test-store-claim-${randomUUID()}`;
  prefixes.push(prefix);
  return prefix;
}

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-store-claim-"));
  dirs.push(dir);
  return dir;
}

async function start(env: Record<string, string>): Promise<TestGatehouse> {
  const g = await startTestGatehouse({ env: { REDIS_URL: TEST_REDIS_URL, ...env } });
  running.push(g);
  return g;
}

async function stop(g: TestGatehouse): Promise<void> {
  running.splice(running.indexOf(g), 1);
  await g.close();
}

describe.runIf(runRedis)("nodes on one Redis prefix", () => {
  it("a node on a SQLite file of its own beside a running node on another one stops, naming the fix", async () => {
    const prefix = newPrefix();
    await start({ GATEHOUSE_DATA_DIR: newDataDir(), GATEHOUSE_REDIS_PREFIX: prefix });
    const otherDir = newDataDir();
    const refused = start({ GATEHOUSE_DATA_DIR: otherDir, GATEHOUSE_REDIS_PREFIX: prefix });
    await expect(refused).rejects.toThrow(/^Invalid configuration: GATEHOUSE_REDIS_PREFIX '.*' on this REDIS_URL/);
    await expect(refused).rejects.toThrow(/the same PostgreSQL DATABASE_URL/);
    await expect(refused).rejects.toThrow(new RegExp(`SQLite file ${otherDir}/gatehouse.sqlite`));
    // Its own prefix: it runs alone, beside the other.
    await start({ GATEHOUSE_DATA_DIR: otherDir, GATEHOUSE_REDIS_PREFIX: newPrefix() });
  });

  it("a node restarting on its own SQLite file is not refused by its own registration (a crash leaves it)", async () => {
    const prefix = newPrefix();
    const dir = newDataDir();
    const first = await start({ GATEHOUSE_DATA_DIR: dir, GATEHOUSE_REDIS_PREFIX: prefix });
    await stop(first);
    expect(await redis.pttl(storeClaimKey(prefix))).toBeGreaterThan(0);
    await start({ GATEHOUSE_DATA_DIR: dir, GATEHOUSE_REDIS_PREFIX: prefix });
  });

  it("two nodes on one SQLite file (one store) start side by side", async () => {
    const prefix = newPrefix();
    const dir = newDataDir();
    await start({ GATEHOUSE_DATA_DIR: dir, GATEHOUSE_REDIS_PREFIX: prefix });
    await start({ GATEHOUSE_DATA_DIR: dir, GATEHOUSE_REDIS_PREFIX: prefix });
  });

  it("once the registration lapsed (every node stopped), a node on another store takes the prefix", async () => {
    const prefix = newPrefix();
    const first = await start({ GATEHOUSE_DATA_DIR: newDataDir(), GATEHOUSE_REDIS_PREFIX: prefix });
    await stop(first);
    await redis.pexpire(storeClaimKey(prefix), 1);
    await new Promise((r) => setTimeout(r, 20));
    await start({ GATEHOUSE_DATA_DIR: newDataDir(), GATEHOUSE_REDIS_PREFIX: prefix });
  });

  it("a registration that is not a store id (written by hand) refuses too: only an equal id is this store", async () => {
    const prefix = newPrefix();
    await redis.set(storeClaimKey(prefix), "", "PX", 60_000);
    await expect(start({ GATEHOUSE_DATA_DIR: newDataDir(), GATEHOUSE_REDIS_PREFIX: prefix })).rejects.toThrow(
      /GATEHOUSE_REDIS_PREFIX/,
    );
  });

  describe.runIf(pgAdmin)("on PostgreSQL", () => {
    it("nodes on one database start side by side; a node on a SQLite file of its own is refused", async () => {
      const prefix = newPrefix();
      const database = await createTestPgDatabase(pgAdmin!);
      databases.push(database);
      const pg = {
        DATABASE_URL: database.url,
        GATEHOUSE_SECRET: "store-claim-test-secret-0123456789",
        GATEHOUSE_REDIS_PREFIX: prefix,
      };
      await start({ ...pg, GATEHOUSE_DATA_DIR: newDataDir() });
      await start({ ...pg, GATEHOUSE_DATA_DIR: newDataDir() });
      const refused = start({ GATEHOUSE_DATA_DIR: newDataDir(), GATEHOUSE_REDIS_PREFIX: prefix });
      await expect(refused).rejects.toThrow(/GATEHOUSE_REDIS_PREFIX '.*' on this REDIS_URL is used by running/);
    });
  });
});
