// Room in a node's pool of MCP sessions: at most `maxSessions`, shared fairly between credentials. Room is taken
// when it is granted (a slot), not when the session is registered: between the two, a request awaits the manifest,
// Redis (a shared session's record) and the SDK, and a burst of initializes all saw the same free room (12 sessions
// opened in a pool of 3).
import { logger } from "../../core/log/logger";

const log = logger.child({ module: "mcp" });

/** What the pool needs of a session (./sessions.ts PooledSession). */
interface PooledSession {
  id: string;
  owner: string;
  endpoint: string;
  /** When a request of it last started or ended (./sessions.ts). */
  lastSeen: number;
  /** `busy`: a call of it is being answered; the pool never closes it then. */
  transport: { close(): Promise<void>; readonly busy: boolean };
}

/** Room in the pool for a session being opened; `release` is idempotent. */
export interface PoolSlot {
  owner: string;
  release(): void;
}

export function sessionPool<Session extends PooledSession>(
  sessions: Map<string, Session>,
  options: { maxSessions: number; sessionIdleMs: number },
) {
  /** Slots granted to sessions being opened or restored, not registered yet. */
  const reserved = new Set<PoolSlot>();
  const used = () => sessions.size + reserved.size;

  /** Idle sessions are forgotten at once (their room is free for the caller asking now), then closed. */
  function closeIdle(now = Date.now()): void {
    for (const session of sessions.values())
      if (now - session.lastSeen > options.sessionIdleMs && !session.transport.busy) {
        sessions.delete(session.id);
        void session.transport.close().catch(() => undefined);
      }
  }

  /** Forgotten at once (its room is taken next), then closed: its caller's next request gets 404. */
  function evict(session: PooledSession): void {
    sessions.delete(session.id);
    log.info({ owner: session.owner, endpoint: session.endpoint }, "mcp session evicted: the pool is full");
    void session.transport.close().catch(() => undefined);
  }

  return {
    closeIdle,

    /**
     * A slot for one more session of `owner`, or undefined when there is no room. A full pool first closes idle
     * sessions; then the caller holding the most sessions gives up its least recently used one to a caller holding
     * fewer, and a caller holding as many as anyone gives up its own: one credential cannot fill the pool and lock
     * every other caller out, nor take back a share the others hold, nor lock itself out. The slot counts as a
     * session from now on; it becomes the session when that is registered, and the caller releases it in any case
     * once it is done.
     */
    reserve(owner: string): PoolSlot | undefined {
      if (used() >= options.maxSessions) closeIdle();
      if (used() >= options.maxSessions) {
        const victim = evictionFor([...sessions.values()], [...reserved], owner);
        if (!victim) return undefined;
        evict(victim);
      }
      const slot: PoolSlot = { owner, release: () => void reserved.delete(slot) };
      reserved.add(slot);
      return slot;
    },
  };
}

/**
 * In a full pool, the session that gives way to a new one of `owner`, never one with a call in flight: the least
 * recently used (by a request's start or end) of the caller holding the most sessions (its busy ones and its slots
 * being opened count as held), or of the next holding more than `owner` when those are all busy; else `owner`'s own
 * least recently used one (a client that lost track of its sessions must not be locked out until they go idle; a key
 * shared by several clients loses its own oldest first), never the session of a caller holding no more than `owner`.
 * Undefined when none of those is idle.
 */
function evictionFor(
  sessions: readonly PooledSession[],
  slots: readonly PoolSlot[],
  owner: string,
): PooledSession | undefined {
  const counts = new Map<string, number>();
  for (const s of [...sessions, ...slots]) counts.set(s.owner, (counts.get(s.owner) ?? 0) + 1);
  const own = counts.get(owner) ?? 0;
  const richer = [...counts].filter(([o, n]) => o !== owner && n > own).sort((a, b) => b[1] - a[1]);
  for (const [holder] of [...richer, [owner]]) {
    const victim = leastRecentlyUsedOf(sessions, holder as string);
    if (victim) return victim;
  }
  return undefined;
}

/** The least recently used of `owner`'s sessions that has no call in flight. */
function leastRecentlyUsedOf(sessions: readonly PooledSession[], owner: string): PooledSession | undefined {
  let oldest: PooledSession | undefined;
  for (const s of sessions)
    if (s.owner === owner && !s.transport.busy && (!oldest || s.lastSeen < oldest.lastSeen)) oldest = s;
  return oldest;
}
