// Nodes on one Redis prefix must share one store (./store-claim.ts): a node on an embedded SQLite file of its own
// beside running nodes on another store stops at start-up, naming the fix; nodes on one PostgreSQL database, and a
// node restarting on its own file, start. Real server (startGatehouse), the local Redis and PostgreSQL.
import { randomUUID } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "./config";
import { shouldRunRedisTests, TEST_REDIS_URL } from "./core/events/redis-availability";
import { ActionUnavailableError } from "./core/governance/types";
import { logger } from "./core/log/logger";
import { emailRequest, ORG, supportBot } from "./core/policy/test-fixtures";
import { createTestPgDatabase, postgresForTests, type TestPgDatabase } from "./core/store/test-support";
import { toProblem } from "./http/errors";
import {
  claimStore,
  refuseWhileInConflict,
  STORE_CLAIM_TTL_MS,
  type StoreClaim,
  type StoreClaimState,
  storeClaimKey,
} from "./store-claim";
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

/** A server holding a port, so that a node asked to listen there fails to start. */
function listening(): Promise<Server> {
  const server = createServer();
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
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

  it("a copy of a node's SQLite file is another store: refused beside its original on one prefix", async () => {
    const prefix = newPrefix();
    const dir = newDataDir();
    await stop(await start({ GATEHOUSE_DATA_DIR: dir, GATEHOUSE_REDIS_PREFIX: prefix }));
    const copyDir = newDataDir();
    for (const name of readdirSync(dir).filter((f) => f.startsWith("gatehouse.sqlite")))
      copyFileSync(join(dir, name), join(copyDir, name));
    await start({ GATEHOUSE_DATA_DIR: dir, GATEHOUSE_REDIS_PREFIX: prefix });
    await expect(start({ GATEHOUSE_DATA_DIR: copyDir, GATEHOUSE_REDIS_PREFIX: prefix })).rejects.toThrow(
      new RegExp(`SQLite file ${copyDir}/gatehouse.sqlite`),
    );
    // The original keeps its id across restarts (the same file): the restart test above still holds for it.
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

  it("a registration without an expiry refuses the node and is given one: it lapses unless a live node refreshes it", async () => {
    const prefix = newPrefix();
    await redis.set(storeClaimKey(prefix), "a-store-set-by-hand");
    await expect(start({ GATEHOUSE_DATA_DIR: newDataDir(), GATEHOUSE_REDIS_PREFIX: prefix })).rejects.toThrow(
      /GATEHOUSE_REDIS_PREFIX/,
    );
    const ttl = await redis.pttl(storeClaimKey(prefix));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(STORE_CLAIM_TTL_MS);
  });

  it("readiness and /health name the store claim of a node on Redis", async () => {
    const g = await start({ GATEHOUSE_DATA_DIR: newDataDir(), GATEHOUSE_REDIS_PREFIX: newPrefix() });
    const ready = await fetch(`${g.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks.store_claim).toBe("registered");
    const health = (await (await fetch(`${g.url}/health`)).json()) as { dependencies: Record<string, string> };
    expect(health.dependencies.store_claim).toBe("registered");
  });

  it("a node whose start-up fails after it registered stops refreshing the registration", async () => {
    const prefix = newPrefix();
    const taken = await listening();
    try {
      const port = String((taken.address() as AddressInfo).port);
      await expect(
        start({ GATEHOUSE_DATA_DIR: newDataDir(), GATEHOUSE_REDIS_PREFIX: prefix, PORT: port }),
      ).rejects.toThrow(/EADDRINUSE/);
    } finally {
      taken.close();
    }
    expect(await redis.pttl(storeClaimKey(prefix))).toBeGreaterThan(STORE_CLAIM_TTL_MS - 5_000);
    // A refresh (every 10 s) would have set the expiry back to the full TTL.
    await new Promise((r) => setTimeout(r, 10_500));
    expect(await redis.pttl(storeClaimKey(prefix))).toBeLessThan(STORE_CLAIM_TTL_MS - 10_000);
  }, 20_000);

  describe("a running node's claim", () => {
    const claims: StoreClaim[] = [];
    afterEach(() => {
      for (const claim of claims.splice(0)) claim.stop();
    });
    const claim = async (prefix: string, client: Redis = redis) => {
      const c = await claimStore({
        redis: client,
        prefix,
        storeId: "store-a",
        store: "a test store",
        logger,
        refreshMs: 50,
      });
      claims.push(c);
      return c;
    };
    const afterRefresh = () => new Promise((r) => setTimeout(r, 200));

    it("turns to conflict when another store took the prefix, and back once the prefix is its store's again", async () => {
      const prefix = newPrefix();
      const c = await claim(prefix);
      expect(c.state()).toBe("registered");
      // E.g. the key lapsed during a Redis outage and a node on another store registered it.
      await redis.set(storeClaimKey(prefix), "store-b", "PX", 60_000);
      await afterRefresh();
      expect(c.state()).toBe("conflict");
      expect(await redis.get(storeClaimKey(prefix))).toBe("store-b");
      await redis.del(storeClaimKey(prefix));
      await afterRefresh();
      expect(c.state()).toBe("registered");
      expect(await redis.get(storeClaimKey(prefix))).toBe("store-a");
    });

    it("registers again as soon as its Redis connection is back, not at its next refresh (a restarted Redis is empty)", async () => {
      const client = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      client.on("error", () => {});
      try {
        const prefix = newPrefix();
        const c = await claimStore({ redis: client, prefix, storeId: "store-a", store: "a test store", logger });
        claims.push(c);
        await redis.del(storeClaimKey(prefix)); // as a restarted Redis has it
        await redis.client("KILL", "ID", String(await client.client("ID")));
        await expect.poll(() => redis.get(storeClaimKey(prefix)), { timeout: 3_000 }).toBe("store-a");
        expect(c.state()).toBe("registered");
      } finally {
        client.disconnect();
      }
    });

    it("after a Redis restart, the prefix's nodes register before a node that started on another store meanwhile", async () => {
      const prefix = newPrefix();
      // The running node reconnects 300 ms after a cut; the newcomer at once, so it would be first to register.
      const member = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1, retryStrategy: () => 300 });
      // Started while Redis was down: its first registration fails (no offline queue while it connects).
      const newcomer = new Redis(TEST_REDIS_URL, {
        lazyConnect: true,
        enableOfflineQueue: false,
        retryStrategy: () => 10,
      });
      for (const client of [member, newcomer]) client.on("error", () => {});
      try {
        const running = await claimStore({ redis: member, prefix, storeId: "store-a", store: "a", logger });
        claims.push(running);
        const started = await claimStore({
          redis: newcomer,
          prefix,
          storeId: "store-b",
          store: "b",
          logger,
          refreshMs: 50,
          newcomerGraceMs: 1_000,
        });
        claims.push(started);
        expect(started.state()).toBe("unconfirmed");
        await expect.poll(() => newcomer.status).toBe("ready");
        // Redis restarts: empty, every connection cut.
        await redis.del(storeClaimKey(prefix));
        for (const client of [member, newcomer]) await redis.client("KILL", "ID", String(await client.client("ID")));
        await expect.poll(() => redis.get(storeClaimKey(prefix)), { timeout: 3_000 }).toBe("store-a");
        await expect.poll(() => started.state(), { timeout: 3_000 }).toBe("conflict");
        expect(running.state()).toBe("registered");
        expect(await redis.get(storeClaimKey(prefix))).toBe("store-a");
      } finally {
        member.disconnect();
        newcomer.disconnect();
      }
    });

    it("a node started while Redis was down registers on its own prefix once Redis has been ready for the grace", async () => {
      const prefix = newPrefix();
      const client = new Redis(TEST_REDIS_URL, { lazyConnect: true, enableOfflineQueue: false });
      client.on("error", () => {});
      try {
        const c = await claimStore({
          redis: client,
          prefix,
          storeId: "store-a",
          store: "a",
          logger,
          newcomerGraceMs: 300,
        });
        claims.push(c);
        await expect.poll(() => client.status).toBe("ready");
        expect(c.state()).toBe("unconfirmed");
        await expect.poll(() => c.state(), { timeout: 3_000 }).toBe("registered");
        expect(await redis.get(storeClaimKey(prefix))).toBe("store-a");
      } finally {
        client.disconnect();
      }
    });

    it("stays registered through refreshes Redis does not answer (the redis probe reports the outage)", async () => {
      const client = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on("error", () => {});
      const c = await claim(newPrefix(), client);
      expect(c.state()).toBe("registered");
      client.disconnect();
      await afterRefresh();
      expect(c.state()).toBe("registered");
    });

    it("is unconfirmed while Redis does not answer (a node started without Redis is not ready)", async () => {
      const down = new Redis("redis://127.0.0.1:1", {
        maxRetriesPerRequest: 0,
        lazyConnect: true,
        retryStrategy: () => null,
      });
      down.on("error", () => {});
      try {
        const c = await claim(newPrefix(), down);
        expect(c.state()).toBe("unconfirmed");
        await afterRefresh();
        expect(c.state()).toBe("unconfirmed");
      } finally {
        down.disconnect();
      }
    });
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

    it("a node on the same database with another prefix stops, naming both; GATEHOUSE_REDIS_PREFIX_TAKEOVER=1 moves the store", async () => {
      const [first, second] = [newPrefix(), newPrefix()];
      const database = await createTestPgDatabase(pgAdmin!);
      databases.push(database);
      const on = (prefix: string, extra: Record<string, string> = {}) => ({
        DATABASE_URL: database.url,
        GATEHOUSE_SECRET: "store-claim-test-secret-0123456789",
        GATEHOUSE_REDIS_PREFIX: prefix,
        GATEHOUSE_DATA_DIR: newDataDir(),
        ...extra,
      });
      const node = await start(on(first));
      const err = (await start(on(second)).then(
        () => undefined,
        (e: unknown) => e,
      )) as Error;
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain(`'${second}' (on redis://`);
      expect(err.message).toContain(`run on '${first}'`);
      // Stopped, even after the first node is gone: the store stays its prefix's until it is moved on purpose.
      await stop(node);
      await expect(start(on(second))).rejects.toThrow(/is not the prefix this node's PostgreSQL store belongs to/);
      await stop(await start(on(second, { GATEHOUSE_REDIS_PREFIX_TAKEOVER: "1" })));
      await start(on(second));
      await expect(start(on(first))).rejects.toThrow(new RegExp(`run on '${second}'`));
    });

    it("a node on the store's prefix in another Redis database stops, naming both; the takeover moves the store", async () => {
      // Review R23b F2: REDIS_URL …/3 beside nodes on …/0 was accepted (store_claim registered in db 3), and the
      // node had rate limits, sessions and events of its own.
      const prefix = newPrefix();
      const database = await createTestPgDatabase(pgAdmin!);
      databases.push(database);
      const inDb = (db: number) => {
        const url = new URL(TEST_REDIS_URL);
        url.pathname = `/${db}`;
        return url.toString();
      };
      const other = new Redis(inDb(9), { maxRetriesPerRequest: 1, lazyConnect: true });
      const on = (extra: Record<string, string> = {}) => ({
        DATABASE_URL: database.url,
        GATEHOUSE_SECRET: "store-claim-test-secret-0123456789",
        GATEHOUSE_REDIS_PREFIX: prefix,
        GATEHOUSE_DATA_DIR: newDataDir(),
        ...extra,
      });
      try {
        await start(on());
        const err = (await start(on({ REDIS_URL: inDb(9) })).then(
          () => undefined,
          (e: unknown) => e,
        )) as Error;
        expect(err).toBeInstanceOf(ConfigError);
        expect(err.message).toMatch(/^Invalid configuration: REDIS_URL selects Redis database 9 \(redis:\/\/.*\/9\)/);
        expect(err.message).toMatch(/belongs to the prefix '.*' in Redis database 0 \(redis:\/\/.*\/0\)/);
        expect(await other.keys(`${prefix}*`)).toEqual([]);
        // Database 0 spelled out (or as ioredis' ?db=) is the same Redis database.
        await start(on({ REDIS_URL: inDb(0) }));
        await start(on({ REDIS_URL: `${TEST_REDIS_URL.replace(/\/\d*$/, "")}?db=0` }));
        // Moved on purpose: every node stopped, one started with the takeover in database 9.
        for (const g of [...running]) await stop(g);
        await stop(await start(on({ REDIS_URL: inDb(9), GATEHOUSE_REDIS_PREFIX_TAKEOVER: "1" })));
        await start(on({ REDIS_URL: inDb(9) }));
        await expect(start(on())).rejects.toThrow(/selects Redis database 0 .* in Redis database 9/);
      } finally {
        for (const g of running.splice(0)) await g.close();
        const keys = await other.keys(`${prefix}*`);
        if (keys.length) await other.del(...keys);
        other.disconnect();
      }
    });

    it("a node without Redis on a store whose nodes share a Redis prefix stops; the takeover moves it off Redis", async () => {
      const prefix = newPrefix();
      const database = await createTestPgDatabase(pgAdmin!);
      databases.push(database);
      const on = (extra: Record<string, string> = {}) => ({
        DATABASE_URL: database.url,
        GATEHOUSE_SECRET: "store-claim-test-secret-0123456789",
        GATEHOUSE_REDIS_PREFIX: prefix,
        GATEHOUSE_DATA_DIR: newDataDir(),
        ...extra,
      });
      await stop(await start(on()));
      // Its rate limits, session caps and events would be its own: a silent split of the cluster (review R17).
      const err = (await start(on({ REDIS_URL: "" })).then(
        () => undefined,
        (e: unknown) => e,
      )) as Error;
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain(`belongs to the Redis prefix '${prefix}'`);
      // Moved off Redis on purpose: then a node without Redis starts, and so does the next one.
      await stop(await start(on({ REDIS_URL: "", GATEHOUSE_REDIS_PREFIX_TAKEOVER: "1" })));
      await stop(await start(on({ REDIS_URL: "" })));
    });

    it("a copy of the database (TEMPLATE, a restored dump) is another store: refused beside its original", async () => {
      const prefix = newPrefix();
      const original = await createTestPgDatabase(pgAdmin!);
      databases.push(original);
      const on = (database: TestPgDatabase) => ({
        DATABASE_URL: database.url,
        GATEHOUSE_SECRET: "store-claim-test-secret-0123456789",
        GATEHOUSE_REDIS_PREFIX: prefix,
        GATEHOUSE_DATA_DIR: newDataDir(),
      });
      await stop(await start(on(original)));
      const copy = await createTestPgDatabase(pgAdmin!, original);
      databases.push(copy);
      await start(on(original));
      await expect(start(on(copy))).rejects.toThrow(/GATEHOUSE_REDIS_PREFIX '.*' on this REDIS_URL is used by running/);
      // The original's nodes still start side by side.
      await start(on(original));
    });
  });
});

describe("a node whose store claim is in conflict", () => {
  it("refuses its governed calls with 503 STORE_CONFLICT, and decides them again once the claim is registered", async () => {
    const g = await startTestGatehouse();
    running.push(g);
    const engine = g.embedded!.engine;
    engine.manifests.register(ORG, supportBot());
    let state: StoreClaimState = "conflict";
    const guarded = refuseWhileInConflict(engine, { state: () => state, stop: () => undefined });
    const calls = [
      () => guarded.evaluate(ORG, emailRequest()),
      () => guarded.execute(ORG, emailRequest()),
      () => guarded.authorize(ORG, emailRequest()),
      () => {
        const { uapk_id, agent_id, action } = emailRequest();
        return guarded.batch(ORG, {
          uapk_id,
          agent_id,
          stop_on_deny: false,
          actions: [{ action_id: "a1", ...action }],
        });
      },
    ];
    for (const call of calls) {
      const refused = await call().catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ActionUnavailableError);
      expect(toProblem(refused)).toMatchObject({ status: 503, code: "STORE_CONFLICT" });
    }
    // Nothing was decided, spent or audited while refused.
    expect((await engine.evaluate(ORG, emailRequest())).risk_snapshot?.budget_current).toBe(0);
    state = "registered";
    expect((await guarded.evaluate(ORG, emailRequest())).decision).toBe("ALLOW");
    expect((await guarded.execute(ORG, emailRequest())).decision).toBe("ALLOW");
  });
});
