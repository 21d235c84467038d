// The Redis-backed pieces against the local Redis (127.0.0.1:6379, also in CI): the session store mirrored
// to Redis (resume on another gateway node, ownership, expiry), rate limits shared by nodes, health PING.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { NODE_REFRESH_MS, NODE_TTL_MS } from "./cluster";
import { redisSessionsFixture } from "./redis-fixture";
import type { GatewayOverrides as GatewayOptions, IdeOptions } from "./sessions-fixture";
import { type Frame, ISSUER, isFinal, keyOf, refusedUpgrade, type TestGateway, tokensOf } from "./test-support";

const REDIS_URL = "redis://127.0.0.1:6379";
const fx = redisSessionsFixture("redis");
const { prefix } = fx;

type GatewayOverrides = NonNullable<GatewayOptions>;

async function node(options: GatewayOverrides["options"] = {}, extra: GatewayOverrides = {}) {
  return fx.gateway({
    redis: fx.redis,
    tokenDelayMs: 2,
    ...extra,
    // A node silent that long is gone (take-over): the shortest bound, the presence's TTL, keeps these tests short.
    options: { redisKeyPrefix: prefix, nodeGoneAfterMs: NODE_TTL_MS, ...options },
  });
}

async function ide(g: TestGateway, sessionId: string, opts: IdeOptions = {}) {
  return fx.ide(g, sessionId, { token: await fx.idp.mint(), ...opts });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pipelined = () => new Promise((r) => setTimeout(r, 200)); // the store's writes are pipelined, not awaited

describe("Redis session store", () => {
  it("another node resumes a session: every missed frame replayed in order, owner enforced", async () => {
    const a = await node();
    const b = await node();
    const sessionId = `multi-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice" });
    const first = await ide(a, sessionId, { token });
    first.send({ type: "user_message", content: "something long please" });
    await first.next((f) => f.type === "assistant_message" && String(f.token).startsWith("слово3"));
    const seen = [...first.frames];
    first.ws.terminate(); // the IDE drops; node A's runtime turn goes on and every frame reaches Redis
    await expect
      .poll(() => a.runtime!.received.length > 0 && fx.redis.xlen(`${prefix}:ws:frames:${keyOf(sessionId)}`), {
        timeout: 5000,
      })
      .toBeGreaterThan(seen.length + 100);
    await pipelined();

    // Another user on the same id opens a session of their own (sessions are per user): alice's is untouched.
    const other = await ide(b, sessionId, { token: await fx.idp.mint({ sub: "mallory" }) });
    expect(other.frames).toEqual([]);

    const lastSeq = seen.at(-1)!.seq!;
    const second = await ide(b, sessionId, { token, headers: { "x-gatehouse-last-seq": String(lastSeq) } });
    const resumed = await second.next((f) => f.type === "session_resumed");
    expect(resumed.replayed as number).toBeGreaterThan(100);
    const replayed = second.frames.slice(0, second.frames.indexOf(resumed));
    const all = [...seen, ...replayed];
    expect(all.map((f) => f.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.some(isFinal)).toBe(true);
    expect(tokensOf(all)).toMatch(/^Вы написали: something long please\. слово1 (слово\d+ ){118}слово120$/);
    // session_resumed is a notice outside the stream: it takes no seq, so the stream has no gap.
    expect(resumed.seq).toBeUndefined();
  });

  it("a session that expired on one node is SESSION_EXPIRED on another", async () => {
    const a = await node({ sessionTtlMs: 100 });
    const b = await node();
    const sessionId = `expired-${randomUUID()}`;
    const token = await fx.idp.mint();
    const first = await ide(a, sessionId, { token });
    first.send({ type: "user_message", content: "hi" });
    await first.next(isFinal);
    first.ws.terminate();
    await expect.poll(() => fx.redis.exists(`${prefix}:ws:expired:${keyOf(sessionId)}`), { timeout: 3000 }).toBe(1);
    const again = await ide(b, sessionId, { token, headers: { "x-gatehouse-last-seq": "3" } });
    expect(await again.next((f) => f.type === "error")).toMatchObject({
      error_code: "SESSION_EXPIRED",
      details: { session_id: sessionId },
    });
  });

  it("keys expire: a session's keys carry a TTL", async () => {
    const a = await node({ sessionTtlMs: 60_000, replayWindowMs: 30_000 });
    const sessionId = `ttl-${randomUUID()}`;
    const c = await ide(a, sessionId);
    c.send({ type: "user_message", content: "hi" });
    await c.next(isFinal);
    await pipelined();
    for (const key of [`${prefix}:ws:session:${keyOf(sessionId)}`, `${prefix}:ws:frames:${keyOf(sessionId)}`]) {
      const ttl = await fx.redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(90_000);
    }
  });
});

describe("IDE frames for a runtime link on another node", () => {
  it("a frame forged onto a node's inbox for another principal's session is refused; its owner's is applied", async () => {
    const a = await node({}, { tokenDelayMs: 30 });
    const sessionId = `forged-${randomUUID()}`;
    const c = await ide(a, sessionId, { token: await fx.idp.mint({ sub: "alice" }) });
    c.send({ type: "user_message", content: "something long please" });
    await c.next((f) => f.type === "assistant_message");
    await pipelined();
    const holder = await fx.redis.hget(`${prefix}:ws:session:${keyOf(sessionId)}`, "link");
    expect(holder).toBeTruthy();

    const me = `test-${randomUUID()}`;
    const listener = fx.redis.duplicate();
    const answers: Record<string, unknown>[] = [];
    listener.on("message", (_channel, message: string) => answers.push(JSON.parse(message)));
    await listener.subscribe(`${prefix}:ws:inbox:${me}`);
    const send = (id: string, principal: Record<string, string>, messageId: string) =>
      fx.redis.publish(
        `${prefix}:ws:inbox:${holder}`,
        JSON.stringify({
          kind: "frame",
          id,
          from: me,
          forwarded: { sessionId: keyOf(sessionId), principal, frame: { type: "cancel", message_id: messageId } },
        }),
      );
    try {
      expect(await send("x-1", { sub: "mallory", issuer: ISSUER }, "evil")).toBe(1);
      await expect.poll(() => answers.length).toBe(1);
      expect(answers[0]).toMatchObject({ kind: "answer", id: "x-1", answer: { accepted: false } });
      // The same frame as alice's: taken, written to the runtime link, acked in the session's stream.
      await send("x-2", { sub: "alice", issuer: ISSUER }, "hers");
      await expect.poll(() => answers.length).toBe(2);
      expect(answers[1]).toMatchObject({ id: "x-2", answer: { accepted: true, notices: [] } });
      await c.next((f) => f.type === "ack" && f.message_id === "hers");
      const cancels = a.runtime!.received.filter((r) => r.frame.type === "cancel").map((r) => r.frame.message_id);
      expect(cancels).toEqual(["hers"]);
      expect(c.frames.some((f) => f.message_id === "evil")).toBe(false);
    } finally {
      listener.disconnect();
    }
  });

  it("one live socket per session across nodes: a newer socket on B replaces the one on A (4409)", async () => {
    const a = await node();
    const b = await node();
    const sessionId = `replaced-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice" });
    const older = await ide(a, sessionId, { token });
    older.send({ type: "user_message", content: "hi" });
    await older.next(isFinal);
    await pipelined();
    const newer = await ide(b, sessionId, {
      token,
      headers: { "x-gatehouse-last-seq": String(older.frames.at(-1)!.seq) },
    });
    expect((await older.closed).code).toBe(4409);
    await newer.next((f) => f.type === "session_resumed");
    expect(newer.ws.readyState).toBe(newer.ws.OPEN);
  });

  it("a live node named as holder that no longer has the session is taken over, not refused for ever", async () => {
    const a = await node();
    const sessionId = `stale-holder-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice" });
    const first = await ide(a, sessionId, { token });
    first.send({ type: "user_message", content: "hi" });
    await first.next(isFinal);
    first.ws.terminate();
    const present = async () => new Set(await fx.redis.keys(`${prefix}:ws:node:*`));
    const before = await present();
    const b = await node();
    const bKey = [...(await present())].find((k) => !before.has(k))!;
    const c = await node();
    // B is alive but never held this session (as after it ended it there): it is named as the holder anyway.
    await fx.redis.hset(`${prefix}:ws:session:${keyOf(sessionId)}`, "link", bKey.split(":").at(-1)!);
    const moved = await ide(c, sessionId, {
      token,
      headers: { "x-gatehouse-last-seq": String(first.frames.at(-1)!.seq) },
    });
    await moved.next((f) => f.type === "session_resumed");
    moved.send({ type: "user_message", content: "again", message_id: "m-2" });
    await moved.next((f) => f.type === "ack" && f.message_id === "m-2");
    await moved.next((f) => isFinal(f) && f.seq! > first.frames.at(-1)!.seq!);
    expect(c.runtime!.received.map((r) => r.frame.content)).toEqual(["again"]);
    expect(b.runtime!.received).toEqual([]);
  });

  it("the node holding the link loses Redis (as if it crashed): B's IDE hears AGENT_UNAVAILABLE, then carries on", async () => {
    const own = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    own.on("error", () => undefined);
    const a = await node({}, { redis: own, tokenDelayMs: 50 });
    const b = await node({}, { tokenDelayMs: 2 });
    const sessionId = `crash-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice" });
    const first = await ide(a, sessionId, { token });
    first.send({ type: "user_message", content: "something long please" });
    await first.next((f) => f.type === "assistant_message" && String(f.token).startsWith("слово2"));
    const seen = [...first.frames];
    first.ws.terminate();
    const second = await ide(b, sessionId, { token, headers: { "x-gatehouse-last-seq": String(seen.at(-1)!.seq) } });
    await second.next((f) => f.type === "session_resumed");

    own.disconnect(); // node A is cut off: its presence lapses, it can no longer write the stream
    const cutAt = Date.now();
    // A frame sent meanwhile reaches A's inbox, but no answer or ack can come back: B must not wait forever.
    second.send({ type: "switch_agent", agent: "coder", message_id: "in-flight" });
    const lost = await second.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", 8_000);
    const after = Date.now() - cutAt;
    console.info(`B's IDE told AGENT_UNAVAILABLE ${after} ms after node A was cut off`);
    expect(after).toBeLessThan(NODE_TTL_MS + 2 * NODE_REFRESH_MS);
    expect(lost).toMatchObject({ seq: expect.any(Number), details: { reason: "NODE_GONE" } });
    const unanswered = await second.next((f) => f.type === "error" && (f.details as Frame)?.message_id === "in-flight");
    expect(unanswered).toMatchObject({ error_code: "AGENT_UNAVAILABLE", details: { reason: "NODE_GONE" } });
    expect(second.frames.some((f) => f.type === "ack" && f.message_id === "in-flight")).toBe(false);
    // B now numbers the session's frames and opens its own runtime link on the next prompt.
    second.send({ type: "user_message", content: "hello again", message_id: "again" });
    await second.next((f) => f.type === "ack" && f.message_id === "again");
    await second.next((f) => isFinal(f) && (f.seq ?? 0) > (lost.seq ?? 0));
    const all = [...seen, ...second.frames.filter((f) => f.seq !== undefined)];
    const seqs = all.map((f) => f.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(b.runtime!.received.map((r) => r.frame.content)).toEqual(["hello again"]);

    // Node A comes back: the session is B's now. A closes the link of the lost turn and writes nothing more
    // into the stream (Redis refuses its appends), so B's IDE never sees a frame of the old turn again.
    const streamTop = async () =>
      (await fx.redis.xrevrange(`${prefix}:ws:frames:${keyOf(sessionId)}`, "+", "-", "COUNT", 1))[0]?.[0];
    const topBefore = await streamTop();
    const framesBefore = second.frames.length;
    await own.connect();
    await expect.poll(() => a.runtime!.connections(), { timeout: 5_000 }).toBe(0);
    await sleep(300);
    expect(await streamTop()).toBe(topBefore);
    expect(second.frames.length).toBe(framesBefore);
  });
});

describe("rate limits shared through Redis", () => {
  it("connections per IP count across nodes", async () => {
    const limitPrefix = `${prefix}-ip-${randomUUID()}`;
    const a = await node({ connectionsPerIpPerMinute: 3, redisKeyPrefix: limitPrefix });
    const b = await node({ connectionsPerIpPerMinute: 3, redisKeyPrefix: limitPrefix });
    await ide(a, "ip-1");
    await ide(a, "ip-2");
    await ide(b, "ip-3");
    const res = await refusedUpgrade(`${b.wsBase}/ws/ip-4`, {
      headers: { authorization: `Bearer ${await fx.idp.mint()}` },
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    const keys = await fx.redis.keys(`${limitPrefix}:ws:limit:ip*`);
    expect(keys.length).toBe(1);
  });

  it("messages per session count across nodes (the session moved)", async () => {
    const limitPrefix = `${prefix}-msg-${randomUUID()}`;
    const a = await node({ messagesPerSessionPerMinute: 3, redisKeyPrefix: limitPrefix });
    const b = await node({ messagesPerSessionPerMinute: 3, redisKeyPrefix: limitPrefix });
    const token = await fx.idp.mint();
    const first = await ide(a, "moving", { token });
    first.send({ type: "cancel" });
    first.send({ type: "cancel" });
    await first.next((f) => f.type === "ack" && f.seq === 2);
    first.ws.close();
    await pipelined();
    const second = await ide(b, "moving", { token });
    second.send({ type: "cancel" });
    second.send({ type: "cancel" });
    const err = await second.next((f) => f.type === "error");
    expect(err).toMatchObject({ error_code: "RATE_LIMIT_EXCEEDED" });
    expect(second.frames.filter((f) => f.type === "ack")).toHaveLength(1);
    expect(await fx.redis.keys(`${limitPrefix}:ws:limit:messages:*`)).toEqual([
      `${limitPrefix}:ws:limit:messages:${keyOf("moving")}`,
    ]);
  });
});

describe("health", () => {
  it("reports redis from a real PING", async () => {
    const up = await node();
    expect(await up.gateway.health()).toEqual({ agent_runtime: "available", redis: "connected" });
    const unreachable = new Redis("redis://127.0.0.1:9", {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    unreachable.on("error", () => undefined);
    try {
      const down = await node({}, { redis: unreachable });
      expect((await down.gateway.health()).redis).toBe("disconnected");
    } finally {
      unreachable.disconnect();
    }
  });
});
