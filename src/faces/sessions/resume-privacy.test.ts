// Session ids are chosen by clients: resuming an id must not tell a caller that someone else's session exists, nor
// when it ended. A resume of another user's session — live or expired — answers exactly as for an id that never
// existed; the owner alone hears SESSION_EXPIRED with its time. On one node and across nodes sharing Redis.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { redisSessionsFixture } from "./redis-fixture";
import { isFinal, keyOf, openIde, refusedUpgrade, startGateway, type TestGateway } from "./test-support";

const fixture = redisSessionsFixture("resume");
const { prefix, running, clients } = fixture;

type Overrides = NonNullable<Parameters<typeof startGateway>[1]>;

async function gatewayWith(overrides: Overrides = {}) {
  const g = await startGateway(fixture.idp, { tokenDelayMs: 1, ...overrides });
  running.push(g);
  return g;
}

async function connect(g: TestGateway, sessionId: string, token: string, headers: Record<string, string> = {}) {
  const c = await openIde(`${g.wsBase}/ws/${sessionId}`, { token, headers });
  clients.push(c);
  return c;
}

/** A session of `token`'s user with a few frames, its socket then dropped. */
async function sessionWithFrames(g: TestGateway, sessionId: string, token: string, keepOpen = false) {
  const c = await connect(g, sessionId, token);
  c.send({ type: "user_message", content: "hi" });
  await c.next(isFinal);
  if (!keepOpen) c.ws.terminate();
  return c;
}

/** What a resume with `last_seq` 3 is answered before the 101, minus what differs per request anyway. */
async function resumeAnswer(g: TestGateway, sessionId: string, token: string) {
  const res = await refusedUpgrade(`${g.wsBase}/ws/${sessionId}`, {
    headers: { authorization: `Bearer ${token}`, "x-gatehouse-last-seq": "3" },
  });
  const { instance: _instance, request_id: _requestId, ...body } = res.body;
  const { date: _date, "x-request-id": _xRequestId, ...headers } = res.headers;
  return { status: res.status, headers, body: JSON.stringify(body).replaceAll(sessionId, "<id>") };
}

describe("resuming someone else's session answers as for an unknown id", () => {
  it("one node: another user's live, expired and an unknown id get the same 404 SESSION_NOT_FOUND", async () => {
    const g = await gatewayWith({ options: { sessionTtlMs: 200 } });
    const alice = await fixture.idp.mint({ sub: "alice", org: "acme" });
    const mallory = await fixture.idp.mint({ sub: "mallory", org: "acme" });
    await sessionWithFrames(g, "alice-live", alice, true);
    await sessionWithFrames(g, "alice-gone", alice);
    await expect
      .poll(async () => (await g.gateway.list("acme")).map((s) => s.session_id), { timeout: 3000 })
      .toEqual(["alice-live"]);

    const unknown = await resumeAnswer(g, "never-existed", mallory);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ code: "SESSION_NOT_FOUND", detail: "Session not found" });
    expect(await resumeAnswer(g, "alice-live", mallory)).toEqual(unknown);
    expect(await resumeAnswer(g, "alice-gone", mallory)).toEqual(unknown);
    // Another org's user with the same sub is someone else too.
    expect(await resumeAnswer(g, "alice-gone", await fixture.idp.mint({ sub: "alice", org: "evil" }))).toEqual(unknown);

    // The owner still hears that her session expired, and when.
    const back = await connect(g, "alice-gone", alice, { "x-gatehouse-last-seq": "3" });
    expect(await back.next((f) => f.type === "error")).toMatchObject({
      error_code: "SESSION_EXPIRED",
      details: { session_id: "alice-gone", expired_at: expect.any(String) },
    });
  });

  it("in-band resume on an expired id someone else took afresh: SESSION_NOT_FOUND, no expired_at", async () => {
    const g = await gatewayWith({ options: { sessionTtlMs: 200 } });
    const alice = await fixture.idp.mint({ sub: "alice", org: "acme" });
    await sessionWithFrames(g, "taken-over", alice);
    await expect.poll(async () => (await g.gateway.list("acme")).length, { timeout: 3000 }).toBe(0);

    const mallory = await connect(g, "taken-over", await fixture.idp.mint({ sub: "mallory", org: "acme" }));
    mallory.send({ type: "resume", last_seq: 3 });
    const err = await mallory.next((f) => f.type === "error");
    expect(err).toMatchObject({ error_code: "SESSION_NOT_FOUND", details: { session_id: "taken-over" } });
    expect(JSON.stringify(err)).not.toContain("expired");
  });

  it("several nodes: another user's session expired on A, live on A, or unknown, resumed on B: one answer", async () => {
    const shared = { redis: fixture.redis, options: { redisKeyPrefix: prefix, sessionTtlMs: 200 } };
    const a = await gatewayWith(shared);
    const b = await gatewayWith(shared);
    const aliceSub = `alice-${randomUUID()}`;
    const alice = await fixture.idp.mint({ sub: aliceSub });
    const mallory = await fixture.idp.mint({ sub: `mallory-${randomUUID()}` });
    const live = `live-${randomUUID()}`;
    const gone = `gone-${randomUUID()}`;
    await sessionWithFrames(a, live, alice, true);
    await sessionWithFrames(a, gone, alice);
    await expect
      .poll(() => fixture.redis.exists(`${prefix}:ws:expired:${keyOf(gone, { sub: aliceSub })}`), { timeout: 3000 })
      .toBe(1);

    const unknown = await resumeAnswer(b, `unknown-${randomUUID()}`, mallory);
    expect(unknown.status).toBe(404);
    expect(await resumeAnswer(b, live, mallory)).toEqual(unknown);
    expect(await resumeAnswer(b, gone, mallory)).toEqual(unknown);

    const back = await connect(b, gone, alice, { "x-gatehouse-last-seq": "3" });
    expect(await back.next((f) => f.type === "error")).toMatchObject({ error_code: "SESSION_EXPIRED" });
  });
});

describe("another node never loads someone else's session", () => {
  it("B answers mallory's handshakes on alice's id without reading alice's frames; alice's resume on B replays them", async () => {
    const shared = { redis: fixture.redis, options: { redisKeyPrefix: prefix } };
    const a = await gatewayWith(shared);
    const b = await gatewayWith(shared);
    const aliceSub = `alice-${randomUUID()}`;
    const alice = await fixture.idp.mint({ sub: aliceSub });
    const mallory = await fixture.idp.mint({ sub: `mallory-${randomUUID()}` });
    const id = `victim-${randomUUID()}`;
    const first = await sessionWithFrames(a, id, alice);
    const lastSeen = first.frames.at(-1)!.seq!;
    const framesKey = `${prefix}:ws:frames:${keyOf(id, { sub: aliceSub })}`;
    await expect.poll(() => fixture.redis.exists(framesKey), { timeout: 3000 }).toBe(1);
    // Every read of alice's frames stream, by any node, while mallory knocks on B.
    const reads: string[][] = [];
    const monitor = await fixture.redis.monitor();
    monitor.on("monitor", (_time: string, args: string[]) => {
      if (/^x(range|revrange|read)$/i.test(args[0] ?? "") && args.includes(framesKey)) reads.push(args);
    });
    try {
      await resumeAnswer(b, id, mallory);
      const fresh = await refusedUpgrade(`${b.wsBase}/ws/${id}`, {
        headers: { authorization: `Bearer ${mallory}` },
      }).catch(() => ({ status: 101 }));
      expect(fresh.status).not.toBe(500);
      await new Promise((r) => setTimeout(r, 200));
      expect(reads).toEqual([]);
    } finally {
      monitor.disconnect();
    }

    const back = await connect(b, id, alice, { "x-gatehouse-last-seq": "1" });
    const resumed = await back.next((f) => f.type === "session_resumed");
    expect(resumed.replayed).toBe(lastSeen - 1);
    expect(back.frames.slice(0, lastSeen - 1).map((f) => f.seq)).toEqual(
      Array.from({ length: lastSeen - 1 }, (_, i) => i + 2),
    );
  });
});
