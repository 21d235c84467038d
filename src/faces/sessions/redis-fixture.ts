// The set-up of a session test file whose gateways meet in Redis: one identity provider, one Redis client, a key
// prefix of the file's own (removed afterwards), and the gateways and IDE clients each test started (closed after
// it). Registers the file's hooks; call it once at the top level of the test file.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { type SessionsFixture, sessionsFixture } from "./sessions-fixture";

export interface RedisSessionsFixture extends SessionsFixture {
  /** Every Redis key the file's gateways write starts with it. */
  readonly prefix: string;
  readonly redis: Redis;
}

export function redisSessionsFixture(name: string): RedisSessionsFixture {
  const sessions = sessionsFixture();
  let redis: Redis | undefined;
  const prefix = `gatehouse-test-${name}-${randomUUID()}`;

  beforeAll(() => {
    redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (!redis) return;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  return {
    prefix,
    get idp() {
      return sessions.idp;
    },
    get redis() {
      if (!redis) throw new Error("the fixture's Redis client opens in beforeAll");
      return redis;
    },
    running: sessions.running,
    clients: sessions.clients,
    gateway: sessions.gateway,
    ide: sessions.ide,
  };
}
