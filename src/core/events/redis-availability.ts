// For tests that need a real Redis: is one reachable at REDIS_URL (default the local one)? Outside CI a test
// file skips with a message naming Redis when it is not; in CI (CI=true) it runs and fails, so a missing
// service never turns into a silently green run.
import { Redis } from "ioredis";

export const TEST_REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";

export async function redisReachable(url: string = TEST_REDIS_URL): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** true when the tests that need Redis should run; logs why they are skipped otherwise. */
export async function shouldRunRedisTests(suite: string): Promise<boolean> {
  if (process.env.CI === "true") return true;
  if (await redisReachable()) return true;
  console.warn(
    `${suite}: skipped — Redis is not reachable at ${TEST_REDIS_URL} (start redis-server, or set REDIS_URL)`,
  );
  return false;
}
