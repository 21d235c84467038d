// The cap on live sessions per user: one credential cannot open hundreds of sessions (each with its own runtime
// link). Refused before the 101 with 429 TOO_MANY_SESSIONS; a closed or vanished socket frees its slot; on several
// nodes sharing Redis the cap counts every node's sockets, and a crashed node's slots lapse.
import { createHash, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { TEST_REDIS_URL } from "../../core/events/redis-availability";
import { describe, expect, it } from "vitest";
import { redisSessionsFixture } from "./redis-fixture";
import { createRedisLiveSessionCap } from "./live-session-cap";
import { openIde, refusedUpgrade, startGateway, type IdeClient, type TestGateway } from "./test-support";

const fixture = redisSessionsFixture("cap");
const { prefix, running, clients } = fixture;

type Overrides = NonNullable<Parameters<typeof startGateway>[1]>;

async function gatewayWith(options: Overrides["options"] = {}, extra: Overrides = {}) {
  const g = await startGateway(fixture.idp, {
    withRuntime: false,
    ...extra,
    options: { maxSessionsPerUser: 3, ...options },
  });
  running.push(g);
  return g;
}

async function connect(g: TestGateway, sessionId: string, token: string) {
  const c = await openIde(`${g.wsBase}/ws/${sessionId}`, { token });
  clients.push(c);
  return c;
}

const refused = (g: TestGateway, sessionId: string, token: string) =>
  refusedUpgrade(`${g.wsBase}/ws/${sessionId}`, { headers: { authorization: `Bearer ${token}` } });

/** Polls until the upgrade is accepted (a slot freed asynchronously: a close noticed, a lease lapsed). */
async function eventuallyConnect(g: TestGateway, sessionId: string, token: string, timeout = 3000) {
  let client: IdeClient | undefined;
  await expect
    .poll(
      async () => {
        client = await openIde(`${g.wsBase}/ws/${sessionId}`, { token }).catch(() => undefined);
        return client !== undefined;
      },
      { timeout, interval: 50 },
    )
    .toBe(true);
  clients.push(client!);
  return client!;
}

describe("live sessions per user, one node", () => {
  it("refuses the session over the cap with 429 TOO_MANY_SESSIONS; another user is not affected", async () => {
    const g = await gatewayWith();
    const alice = await fixture.idp.mint({ sub: "alice", org: "acme" });
    for (const id of ["a-1", "a-2", "a-3"]) await connect(g, id, alice);

    const over = await refused(g, "a-4", alice);
    expect(over.status).toBe(429);
    expect(over.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(over.body).toMatchObject({ status: 429, code: "TOO_MANY_SESSIONS" });
    expect(over.body.detail).toMatch(/3 live sessions/);

    // Same sub in another org is another user; so is another sub.
    await connect(g, "b-1", await fixture.idp.mint({ sub: "alice", org: "other" }));
    await connect(g, "c-1", await fixture.idp.mint({ sub: "carol", org: "acme" }));
  });

  it("a reconnect to a session that has a socket takes no new slot (it replaces the socket)", async () => {
    const g = await gatewayWith();
    const alice = await fixture.idp.mint({ sub: "alice" });
    const [first] = [await connect(g, "r-1", alice), await connect(g, "r-2", alice), await connect(g, "r-3", alice)];
    await connect(g, "r-1", alice);
    expect((await first!.closed).code).toBe(4409);
    // The replaced socket's close did not give away the slot its replacement holds.
    expect((await refused(g, "r-4", alice)).status).toBe(429);
  });

  it("closing a socket frees its slot, and so does a socket that vanishes", async () => {
    const g = await gatewayWith();
    const alice = await fixture.idp.mint({ sub: "alice" });
    const open = [await connect(g, "f-1", alice), await connect(g, "f-2", alice), await connect(g, "f-3", alice)];
    expect((await refused(g, "f-4", alice)).status).toBe(429);

    open[0]!.ws.close(1000);
    await eventuallyConnect(g, "f-4", alice);
    expect((await refused(g, "f-5", alice)).status).toBe(429);

    open[1]!.ws.terminate(); // no close frame: the TCP connection is simply gone
    await eventuallyConnect(g, "f-5", alice);
  });
});

describe("live sessions per user, several nodes sharing Redis", () => {
  const shared = (options: Overrides["options"] = {}) =>
    gatewayWith({ redisKeyPrefix: prefix, ...options }, { redis: fixture.redis });

  it("counts the user's sockets on every node; a close on one node frees a slot for another", async () => {
    const a = await shared();
    const b = await shared();
    const alice = await fixture.idp.mint({ sub: `alice-${randomUUID()}` });
    const onA = await connect(a, "n-1", alice);
    await connect(a, "n-2", alice);
    await connect(b, "n-3", alice);
    expect((await refused(b, "n-4", alice)).body.code).toBe("TOO_MANY_SESSIONS");
    expect((await refused(a, "n-4", alice)).body.code).toBe("TOO_MANY_SESSIONS");
    // Moving a live session to the other node is a reconnect, not a new session.
    await connect(b, "n-2", alice);
    // Another user is not affected.
    await connect(b, "bob-own", await fixture.idp.mint({ sub: `bob-${randomUUID()}` }));

    onA.ws.close(1000);
    await eventuallyConnect(b, "n-4", alice);
  });

  it("a crashed node's slots lapse: they are not counted for ever", async () => {
    const principal = `crash-${randomUUID()}`;
    // Renewed every 100 ms, a 2 s lease lapses only if the node's timers stall for 1.9 s: renewed every third of the
    // lease (1 s, then 2 s), this case failed on machines loaded by parallel test files.
    const leaseMs = 2_000;
    const crashed = createRedisLiveSessionCap({
      redis: fixture.redis,
      keyPrefix: prefix,
      maxSessionsPerUser: 2,
      leaseMs,
      renewEveryMs: 100,
    });
    const survivor = createRedisLiveSessionCap({
      redis: fixture.redis,
      keyPrefix: prefix,
      maxSessionsPerUser: 2,
      leaseMs,
    });
    try {
      expect(await crashed.acquire(principal, "s-1")).toBeDefined();
      expect(await crashed.acquire(principal, "s-2")).toBeDefined();
      // Renewed while the node runs: still counted well after one lease.
      await new Promise((r) => setTimeout(r, leaseMs * 1.5));
      expect(await survivor.acquire(principal, "s-3")).toBeUndefined();

      crashed.close(); // the node dies: no release, no more renewals
      expect(await survivor.acquire(principal, "s-3")).toBeUndefined();
      await new Promise((r) => setTimeout(r, leaseMs + 500));
      expect(await survivor.acquire(principal, "s-3")).toBeDefined();
      expect(await survivor.acquire(principal, "s-4")).toBeDefined();
      expect(await survivor.acquire(principal, "s-5")).toBeUndefined();
    } finally {
      crashed.close();
      survivor.close();
    }
  });

  it("a released slot is free at once on every node", async () => {
    const principal = `release-${randomUUID()}`;
    const a = createRedisLiveSessionCap({ redis: fixture.redis, keyPrefix: prefix, maxSessionsPerUser: 1 });
    const b = createRedisLiveSessionCap({ redis: fixture.redis, keyPrefix: prefix, maxSessionsPerUser: 1 });
    try {
      const slot = await a.acquire(principal, "x-1");
      expect(await b.acquire(principal, "x-2")).toBeUndefined();
      slot!.release();
      await expect.poll(async () => (await b.acquire(principal, "x-2")) !== undefined, { timeout: 1000 }).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });

  it("slots Redis lost (a restart) or never saw (taken during an outage) count again once it answers", async () => {
    const leaseMs = 900; // renewed every 300 ms: three chances within the wait below, on a loaded machine too
    const own = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    const cap = (redis: Redis) =>
      createRedisLiveSessionCap({ redis, keyPrefix: prefix, maxSessionsPerUser: 2, leaseMs });
    const a = cap(own);
    const b = cap(fixture.redis);
    const keyOf = (principal: string) => `${prefix}:ws:live:${createHash("sha256").update(principal).digest("hex")}`;
    try {
      // A restarted Redis is empty: node a's two live sockets are written back by its renewals.
      const restarted = `restart-${randomUUID()}`;
      expect(await a.acquire(restarted, "r-1")).toBeDefined();
      expect(await a.acquire(restarted, "r-2")).toBeDefined();
      await fixture.redis.del(keyOf(restarted));
      await new Promise((r) => setTimeout(r, leaseMs));
      expect(await b.acquire(restarted, "r-3")).toBeUndefined();

      // Slots taken while node a could not reach Redis: its own count held the cap, and they count everywhere after.
      own.disconnect();
      const outage = `outage-${randomUUID()}`;
      expect(await a.acquire(outage, "o-1")).toBeDefined();
      expect(await a.acquire(outage, "o-2")).toBeDefined();
      expect(await a.acquire(outage, "o-3")).toBeUndefined();
      await own.connect();
      await expect.poll(() => fixture.redis.hlen(keyOf(outage)), { timeout: 2000 }).toBe(2);
      expect(await b.acquire(outage, "o-3")).toBeUndefined();
    } finally {
      a.close();
      b.close();
      own.disconnect();
    }
  });
});
