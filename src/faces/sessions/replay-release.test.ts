// Issue 10 §6: an IDE that closes its socket itself with 1000 has ended its stream, so its replay buffer is freed
// at once (it used to stay for the whole replay window, 2 minutes by default, with every large frame in it) — with
// the whole session, which ends then (./ide-end.test.ts). Every
// other way of leaving keeps the window and resumes without a gap: a dropped socket, 1001, a close without a code,
// and a close Gatehouse started, even when the IDE answers that one with 1000.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { registry } from "../../core/metrics/registry";
import { createRedisSessionStore } from "./redis-session-store";
import {
  openIde,
  startGateway,
  startIdp,
  type IdeClient,
  type TestGateway,
  type TestIdp,
  isFinal,
} from "./test-support";

let idp: TestIdp;
let g: TestGateway;
const clients: IdeClient[] = [];

beforeAll(async () => {
  idp = await startIdp();
  // The default replay window (2 minutes): nothing in these tests lasts long enough to age a frame out of it.
  g = await startGateway(idp, { tokenDelayMs: 1 });
});
afterAll(async () => {
  await g?.close();
  await idp?.close();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.ws.terminate();
});

async function ide(sessionId: string, token: string, headers: Record<string, string> = {}): Promise<IdeClient> {
  const c = await openIde(`${g.wsBase}/ws/${sessionId}`, { token, headers });
  clients.push(c);
  return c;
}

/** Closes the gateway counted with `code`: its close handler (which frees or keeps the buffer) has run by then. */
const closesWith = async (code: number) =>
  (await registry.getSingleMetric("gatehouse_ws_closes_total")!.get()).values.find(
    (v) => v.labels.code === String(code),
  )?.value ?? 0;

/** One finished turn, so the buffer holds a dozen frames after seq 1. */
async function turn(c: IdeClient): Promise<number> {
  c.send({ type: "user_message", content: "hello there" });
  await c.next(isFinal);
  await c.next((f) => f.type === "agent_status" && f.status === "idle");
  return c.frames.filter((f) => f.seq !== undefined).at(-1)!.seq!;
}

describe("the replay buffer of a stream the IDE ended", () => {
  it("close 1000: the session ends — a resume from before it gets SESSION_EXPIRED; the id starts afresh", async () => {
    const token = await idp.mint();
    const first = await ide("release-1000", token);
    await turn(first);
    const before = await closesWith(1000);
    first.ws.close(1000, "done");
    await expect.poll(() => closesWith(1000)).toBeGreaterThan(before);

    const again = await ide("release-1000", token, { "x-gatehouse-last-seq": "1" });
    expect(await again.next((f) => f.type === "error")).toMatchObject({ error_code: "SESSION_EXPIRED" });
    // Nothing of the ended stream is replayed; the id names a new session, numbered from 1.
    again.send({ type: "user_message", content: "again" });
    expect((await again.next((f) => f.seq !== undefined)).seq).toBe(1);
  });

  it.each([
    ["a dropped socket (1006)", 1006, (c: IdeClient) => c.ws.terminate()],
    ["1001 going away", 1001, (c: IdeClient) => c.ws.close(1001)],
    ["a close without a code (1005)", 1005, (c: IdeClient) => c.ws.close()],
  ])("%s keeps the window: the resume replays every frame after last_seq", async (_name, code, leave) => {
    const token = await idp.mint();
    const id = `keep-${code}`;
    const first = await ide(id, token);
    const lastSeq = await turn(first);
    const before = await closesWith(code);
    leave(first);
    await expect.poll(() => closesWith(code)).toBeGreaterThan(before);

    const again = await ide(id, token, { "x-gatehouse-last-seq": "1" });
    const resumed = await again.next((f) => f.type === "session_resumed");
    expect(resumed).toMatchObject({ last_seq: 1, replayed: lastSeq - 1 });
    expect(again.frames.slice(0, lastSeq - 1).map((f) => f.seq)).toEqual(
      Array.from({ length: lastSeq - 1 }, (_, i) => i + 2),
    );
  });

  it("a close Gatehouse started (token expiry, 4401) keeps the window even when the IDE answers it with 1000", async () => {
    const first = await ide("expiry-answered-1000", await idp.mint({ expInSeconds: 2 }));
    const lastSeq = await turn(first);
    // On the TOKEN_EXPIRED notice the IDE closes with 1000 itself: the close code Gatehouse then sees is 1000.
    first.ws.on("message", (data) => {
      if (String(data).includes("TOKEN_EXPIRED")) first.ws.close(1000, "bye");
    });
    const before = await closesWith(4401);
    await first.closed;
    await expect.poll(() => closesWith(4401), { timeout: 5_000 }).toBeGreaterThan(before);

    const again = await ide("expiry-answered-1000", await idp.mint(), { "x-gatehouse-last-seq": "1" });
    expect(await again.next((f) => f.type === "session_resumed")).toMatchObject({ replayed: lastSeq - 1 });
  });
});

describe("the Redis frames stream is bounded in bytes like the node's buffer (issue 10 §6)", () => {
  it("large frames: the stream keeps no more than the buffer's byte bound, and what it keeps still replays", async () => {
    const redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    const keyPrefix = `gatehouse-test-${randomUUID()}`;
    const maxBytes = 256 * 1024;
    try {
      const store = createRedisSessionStore({
        redis,
        keyPrefix,
        ttlMs: 60_000,
        maxAgeMs: 60_000,
        maxFrames: 1000,
        maxBytes,
      });
      store.create("big", { sub: "alice" });
      const text = "x".repeat(50 * 1024);
      for (let i = 0; i < 40; i++) store.append("big", { type: "assistant_message", content: text } as never, true);
      const frames = `${keyPrefix}:ws:frames:big`;
      // 40 frames of 50 KiB were sent (2 MiB); the stream holds what a 256 KiB buffer holds: its newest 5 or fewer.
      await expect.poll(async () => (await redis.xrange(frames, "-", "+")).at(-1)?.[0]).toBe("40-0");
      const kept = await redis.xrange(frames, "-", "+");
      const bytes = kept.reduce((sum, [, fields]) => sum + (fields[fields.indexOf("d") + 1]?.length ?? 0), 0);
      expect(bytes).toBeLessThanOrEqual(maxBytes);
      expect(kept.length).toBeGreaterThan(0);
      expect(Number(kept[0]![0].split("-")[0])).toBe(40 - kept.length + 1);

      // Another node loading the session replays exactly the frames the stream kept.
      const other = createRedisSessionStore({
        redis,
        keyPrefix,
        ttlMs: 60_000,
        maxAgeMs: 60_000,
        maxFrames: 1000,
        maxBytes,
      });
      await other.hydrate?.("big", { sub: "alice" });
      const firstKept = 40 - kept.length + 1;
      const replay = other.replay("big", firstKept - 1, 41);
      expect(replay).toMatchObject({ ok: true });
    } finally {
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
