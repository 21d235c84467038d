// The frame limit shared through Redis (127.0.0.1:6379, also in CI): a session past it is refused, and a client
// that keeps flooding costs this node no Redis round trip per refused frame.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { consumePoint, createLimiters } from "./rate-limits";

const prefix = `gatehouse-test-limits-${randomUUID()}`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe("a session's frame limit with Redis", () => {
  it("refuses past the limit, then refuses from memory until the window ends", async () => {
    const limits = { redisKeyPrefix: prefix, connectionsPerIpPerMinute: 5, messagesPerSessionPerMinute: 5 };
    const { messageLimiter } = createLimiters(limits, redis);
    for (let i = 0; i < 5; i++) expect(await consumePoint(messageLimiter, "session-1")).toBeUndefined();
    expect(await consumePoint(messageLimiter, "session-1")).toBeGreaterThan(0);

    // rate-limiter-flexible's Lua increment, defined on the client by the limiter.
    const increments = vi.spyOn(redis as unknown as { rlflxIncr: (...a: unknown[]) => unknown }, "rlflxIncr");
    for (let i = 0; i < 1_000; i++) expect(await consumePoint(messageLimiter, "session-1")).toBeGreaterThan(0);
    expect(increments).not.toHaveBeenCalled();
    // Another session is counted as before.
    expect(await consumePoint(messageLimiter, "session-2")).toBeUndefined();
    expect(increments).toHaveBeenCalledTimes(1);
    increments.mockRestore();
  });
});
