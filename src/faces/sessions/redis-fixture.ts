// The set-up of a session test file whose gateways meet in Redis: one identity provider, one Redis client, a key
// prefix of the file's own (removed afterwards), and the gateways and IDE clients each test started (closed after
// it). Registers the file's hooks; call it once at the top level of the test file.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll } from "vitest";
import { startIdp, type IdeClient, type TestGateway, type TestIdp } from "./test-support";

export interface RedisSessionsFixture {
  /** Every Redis key the file's gateways write starts with it. */
  readonly prefix: string;
  readonly idp: TestIdp;
  readonly redis: Redis;
  /** Gateways started by the current test: closed after it. */
  readonly running: TestGateway[];
  /** IDE sockets opened by the current test: terminated after it. */
  readonly clients: IdeClient[];
}

export function redisSessionsFixture(name: string): RedisSessionsFixture {
  let idp: TestIdp | undefined;
  let redis: Redis | undefined;
  const running: TestGateway[] = [];
  const clients: IdeClient[] = [];
  const prefix = `gatehouse-test-${name}-${randomUUID()}`;

  beforeAll(async () => {
    idp = await startIdp();
    redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
    await idp?.close();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    for (const g of running.splice(0)) await g.close();
  });

  return {
    prefix,
    get idp() {
      if (!idp) throw new Error("the fixture's identity provider starts in beforeAll");
      return idp;
    },
    get redis() {
      if (!redis) throw new Error("the fixture's Redis client opens in beforeAll");
      return redis;
    },
    running,
    clients,
  };
}
