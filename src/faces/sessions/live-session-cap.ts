// At most `maxSessionsPerUser` live IDE sockets per principal (issuer, org, sub): each live session can hold a
// runtime link, so one credential must not open hundreds. A slot is taken before the 101 and given back when the
// socket closes (or the upgrade does not complete). Two sockets of one session (a reconnect replacing the older
// socket, here or on another node) hold one slot between them: a reconnect is never refused by its own session.
//
// With Redis the count is cluster-wide: one hash per principal, P:ws:live:{sha256(principal)}, field = a slot's
// token, value = `{expires at} {session id}`. Each node renews the leases of its live sockets every third of the
// lease; a node that crashed stops renewing, so its slots lapse within one lease instead of counting for ever.
// If Redis does not answer, this node's own count still holds the cap (per node) and the node carries on.
//
// A renewal writes the slot whether Redis still has it or not: the socket is live, so it counts. A Redis that
// restarted (empty), and slots taken while Redis did not answer, are thus counted again within a third of a lease
// (at once when the connection is back), instead of leaving the user over the cap until those sockets close.
import { createHash, randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { logger } from "../../core/log/logger";

const log = logger.child({ module: "sessions", part: "live-session-cap" });

/** How long a slot counts in Redis without being renewed by its node (a crashed node's slots lapse after it). */
export const DEFAULT_LIVE_SLOT_LEASE_MS = 30_000;

/** A live socket's place under its principal's cap. */
export interface LiveSlot {
  /** Gives the slot back (idempotent). */
  release(): void;
}

export interface LiveSessionCap {
  /** A slot for a socket of `sessionId`, or undefined when the principal already has the most live sessions. */
  acquire(principal: string, sessionId: string): Promise<LiveSlot | undefined>;
  /** Stops renewing leases (a clean shutdown releases every slot as its socket closes). */
  close(): void;
}

interface Held {
  sessionId: string;
  token: string;
}

/** This node's live sockets per principal: the whole count without Redis, and the fallback with it. */
class LocalSlots {
  private readonly byPrincipal = new Map<string, Held[]>();

  constructor(private readonly max: number) {}

  take(principal: string, sessionId: string): Held | undefined {
    const held = this.byPrincipal.get(principal) ?? [];
    if (!held.some((h) => h.sessionId === sessionId) && distinctSessions(held) >= this.max) return undefined;
    const slot = { sessionId, token: randomUUID() };
    held.push(slot);
    this.byPrincipal.set(principal, held);
    return slot;
  }

  give(principal: string, slot: Held): void {
    const held = this.byPrincipal.get(principal)?.filter((h) => h !== slot) ?? [];
    if (held.length) this.byPrincipal.set(principal, held);
    else this.byPrincipal.delete(principal);
  }

  *all(): Generator<[string, Held]> {
    for (const [principal, held] of this.byPrincipal) for (const slot of held) yield [principal, slot];
  }
}

const distinctSessions = (held: Held[]) => new Set(held.map((h) => h.sessionId)).size;

export function createMemoryLiveSessionCap(maxSessionsPerUser: number): LiveSessionCap {
  const local = new LocalSlots(maxSessionsPerUser);
  return {
    async acquire(principal, sessionId) {
      const slot = local.take(principal, sessionId);
      return slot && onceReleased(() => local.give(principal, slot));
    },
    close: () => undefined,
  };
}

/**
 * Takes a slot (ARGV: now, token, session id, max, lease ms): drops lapsed slots, then counts distinct sessions.
 * 1 when taken (a session already counted always is), 0 when the principal is at the cap.
 */
const ACQUIRE_SCRIPT = `
local now = tonumber(ARGV[1])
local flat = redis.call('HGETALL', KEYS[1])
local sessions, count, own = {}, 0, false
for i = 1, #flat, 2 do
  local sep = string.find(flat[i + 1], ' ', 1, true)
  local expires = tonumber(string.sub(flat[i + 1], 1, sep - 1))
  local session = string.sub(flat[i + 1], sep + 1)
  if expires <= now then
    redis.call('HDEL', KEYS[1], flat[i])
  elseif not sessions[session] then
    sessions[session] = true
    count = count + 1
  end
end
if not sessions[ARGV[3]] and count >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], (now + tonumber(ARGV[5])) .. ' ' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

/**
 * Renews (or writes back) a slot this node holds (ARGV: token, new expiry, session id, lease ms). A released slot
 * is not renewed: its node gave it back before sending its HDEL, on the connection the renewals use.
 */
const RENEW_SCRIPT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 0`;

export interface RedisLiveSessionCapOptions {
  redis: Redis;
  keyPrefix: string;
  maxSessionsPerUser: number;
  leaseMs?: number;
  /** How often the node renews its slots (default: every third of the lease). */
  renewEveryMs?: number;
}

export function createRedisLiveSessionCap(options: RedisLiveSessionCapOptions): LiveSessionCap {
  const { redis, maxSessionsPerUser } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_LIVE_SLOT_LEASE_MS;
  const local = new LocalSlots(maxSessionsPerUser);
  const keyOf = (principal: string) =>
    `${options.keyPrefix}:ws:live:${createHash("sha256").update(principal).digest("hex")}`;

  const renew = () => {
    const pipeline = redis.pipeline();
    const expires = String(Date.now() + leaseMs);
    for (const [principal, slot] of local.all())
      pipeline.eval(RENEW_SCRIPT, 1, keyOf(principal), slot.token, expires, slot.sessionId, String(leaseMs));
    if (pipeline.length)
      pipeline.exec().catch((err: unknown) => log.warn({ err: String(err) }, "cannot renew live session slots"));
  };
  const renewal = setInterval(renew, Math.max(10, options.renewEveryMs ?? Math.floor(leaseMs / 3)));
  renewal.unref();
  // Redis (re)connected, maybe restarted empty: this node's live sockets count again at once.
  redis.on("ready", renew);

  return {
    async acquire(principal, sessionId) {
      // This node's own count first: it holds the cap on its own if Redis does not answer.
      const slot = local.take(principal, sessionId);
      if (!slot) return undefined;
      const key = keyOf(principal);
      try {
        const args = [Date.now(), slot.token, sessionId, maxSessionsPerUser, leaseMs].map(String);
        if (Number(await redis.eval(ACQUIRE_SCRIPT, 1, key, ...args)) !== 1) {
          local.give(principal, slot);
          return undefined;
        }
      } catch (err) {
        log.warn({ err: String(err) }, "cannot count live sessions in redis; this node's count holds the cap");
      }
      return onceReleased(() => {
        local.give(principal, slot);
        redis.hdel(key, slot.token).catch((err: unknown) => {
          // The lease is not renewed any more: the slot lapses on its own.
          log.warn({ err: String(err) }, "cannot release a live session slot in redis");
        });
      });
    },
    close: () => {
      clearInterval(renewal);
      redis.off("ready", renew);
    },
  };
}

function onceReleased(release: () => void): LiveSlot {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      release();
    },
  };
}
