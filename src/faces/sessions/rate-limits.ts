// The rate limits of the sessions face: upgrade attempts and IDE frames per session. With Redis they are
// shared across gateway nodes. Upgrades are counted in two separate buckets: attempts that fail
// authentication (per client IP) and authenticated ones (per client IP and principal), so anonymous noise
// from a shared address (a NAT, a proxy) never locks a valid user out.
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { SessionGatewayOptions } from "./options";

export interface SessionLimiters {
  /** Authenticated upgrades, keyed by client IP and principal. */
  ipLimiter: RateLimiterAbstract;
  /** Upgrade attempts without a valid token, keyed by client IP. */
  anonymousLimiter: RateLimiterAbstract;
  messageLimiter: RateLimiterAbstract;
}

type LimitOptions = Pick<
  SessionGatewayOptions,
  "redisKeyPrefix" | "connectionsPerIpPerMinute" | "messagesPerSessionPerMinute"
>;

export function createLimiters(opts: LimitOptions, redis?: Redis): SessionLimiters {
  const make = (keyPrefix: string, points: number): RateLimiterAbstract => {
    const memory = new RateLimiterMemory({ keyPrefix, points, duration: 60 });
    if (!redis) return memory;
    // Shared across nodes; if Redis fails, each node falls back to its own counters. A key refused once is then
    // refused by this node from memory until its window ends (`inMemoryBlockOnConsumed`, no duration: the rest of
    // the window): a client flooding past its limit costs no Redis round trip per frame.
    return new RateLimiterRedis({
      storeClient: redis,
      keyPrefix,
      points,
      duration: 60,
      insuranceLimiter: memory,
      inMemoryBlockOnConsumed: points + 1,
    });
  };
  return {
    // Not under `:ws:session:` — that is the session store's namespace (redis-session-store.ts).
    ipLimiter: make(`${opts.redisKeyPrefix}:ws:limit:ip`, opts.connectionsPerIpPerMinute),
    anonymousLimiter: make(`${opts.redisKeyPrefix}:ws:limit:anon`, opts.connectionsPerIpPerMinute),
    messageLimiter: make(`${opts.redisKeyPrefix}:ws:limit:messages`, opts.messagesPerSessionPerMinute),
  };
}

/**
 * Consumes one point; resolves undefined when allowed, or the whole seconds to wait when the limit is hit.
 * Any other failure (not a limiter verdict) is thrown.
 */
export async function consumePoint(limiter: RateLimiterAbstract, key: string): Promise<number | undefined> {
  try {
    await limiter.consume(key);
    return undefined;
  } catch (res) {
    if (!(res instanceof RateLimiterRes)) throw res;
    return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  }
}
