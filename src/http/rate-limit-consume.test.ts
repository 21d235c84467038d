// The limiter's `consume` (MCP's tool calls, review R23b F1) on Redis: two nodes' limiters on one prefix share each
// budget with REST's `check`, an operator's session spends its agent's budget (not a key's), and a Redis that does
// not answer refuses REDIS_UNAVAILABLE (never an unlimited allow).
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRunRedisTests, TEST_REDIS_URL } from "../core/events/redis-availability";
import type { Principal } from "../core/identity/principal";
import { createRestRateLimiter } from "./rate-limit";

const runRedis = await shouldRunRedisTests("rate limiter consume tests");
const prefix = `gatehouse-test-consume-${randomUUID()}`;
const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });

beforeAll(async () => {
  if (runRedis) await redis.connect();
});
afterAll(async () => {
  if (runRedis) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
});

const key: Principal = { kind: "api_key", keyId: "key-1", orgId: "org-1" };
const operator: Principal = { kind: "user", sub: "ann", orgId: "org-1", roles: ["operator"] };
const bot = { orgId: "org-1", agentId: "bot" };
const config = { perApiKey: 100, perAgent: 3, windowSeconds: 60 };

describe.runIf(runRedis)("the rate limiter's consume (another door than REST)", () => {
  it("shares the agent's budget with REST's check across nodes; over it, RATE_LIMIT_EXCEEDED with a retry", async () => {
    const [a, b] = [0, 1].map(() => createRestRateLimiter({ config, redis, prefix }));
    await a!.check(key, { agent_id: "bot" });
    expect(await b!.consume(key, bot)).toBeUndefined();
    // A person's MCP session acts as the agent: its budget, though no API key is counted.
    expect(await a!.consume(operator, bot)).toBeUndefined();
    const refused = await b!.consume(operator, bot);
    expect(refused).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    expect(refused!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await expect(a!.check(key, { agent_id: "bot" })).rejects.toMatchObject({ status: 429 });
    // Another agent, and the key alone (an approval-status call), still have room.
    expect(await a!.consume(key, { orgId: "org-1", agentId: "bot-2" })).toBeUndefined();
    expect(await b!.consume(key)).toBeUndefined();
  });

  it("answers REDIS_UNAVAILABLE when Redis does not answer", async () => {
    const down = new Redis("redis://127.0.0.1:1", { lazyConnect: true, enableOfflineQueue: false });
    const limits = createRestRateLimiter({ config, redis: down, prefix });
    expect(await limits.consume(key, bot)).toMatchObject({ code: "REDIS_UNAVAILABLE", retryAfterSeconds: 1 });
    down.disconnect();
  });
});
