// The pings one IDE socket may send. `ws` answers every ping with a pong by itself, before Gatehouse hears of it: a
// client flooding pings would make the gateway write pongs (and spend CPU) without bound. Each socket gets its own
// token bucket, in memory and synchronous: the session's frame limiter (./rate-limits.ts) is shared by nodes
// through Redis (a round trip per ping) and a keepalive counted there would eat the budget of the IDE's frames,
// so a busy IDE would see its keepalive refused.

export interface PingAllowance {
  /** Takes one ping from the allowance; false when none is left (the socket pings too often). */
  take(now?: number): boolean;
}

/**
 * `perMinute` pings a minute, refilled evenly: a steady ping every 60/perMinute s always fits. At once, half a
 * minute's worth at most: by default 30, below the 60 unflushed pongs after which `ws` cuts a socket without a
 * close code (maxPendingAutoPongs), so a burst is closed 1008, which says why.
 */
export function pingAllowance(perMinute: number, start = Date.now()): PingAllowance {
  const refillPerMs = perMinute / 60_000;
  const burst = Math.max(1, Math.floor(perMinute / 2));
  let tokens = burst;
  let last = start;
  return {
    take(now = Date.now()) {
      tokens = Math.min(burst, tokens + Math.max(0, now - last) * refillPerMs);
      last = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
