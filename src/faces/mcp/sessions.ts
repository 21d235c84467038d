// The open MCP sessions of this node: one SDK transport + server per session, bound to the credential and the
// endpoint that opened it (another caller presenting its id gets 404, as for an unknown id). Bounded: at most
// `maxSessions`, shared between credentials (`hasRoom`), and a session unused for `sessionIdleMs` is closed.
// Sessions live in this process's memory: several gateway nodes need sticky routing on the Mcp-Session-Id header
// (documented in the README).
import { randomUUID } from "node:crypto";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { logger } from "../../core/log/logger";
import { SessionTransport } from "./transport";

const log = logger.child({ module: "mcp" });

export interface McpSession {
  id: string;
  /** Who opened it: `key:<id>` or `user:["<org>","<sub>"]`. */
  owner: string;
  /** The endpoint it was opened on, e.g. `agents/customer-support-bot`. */
  endpoint: string;
  transport: SessionTransport;
  lastSeen: number;
}

export interface SessionRegistryOptions {
  maxSessions: number;
  sessionIdleMs: number;
}

export function createSessionRegistry(options: SessionRegistryOptions) {
  const sessions = new Map<string, McpSession>();

  function closeIdle(now = Date.now()): void {
    for (const session of sessions.values())
      if (now - session.lastSeen > options.sessionIdleMs) void session.transport.close().catch(() => undefined);
  }
  function leastRecentlyUsed(owner: string): McpSession {
    let oldest: McpSession | undefined;
    for (const s of sessions.values()) if (s.owner === owner && (!oldest || s.lastSeen < oldest.lastSeen)) oldest = s;
    return oldest!;
  }

  /** Forgotten at once (its slot is taken next), then closed: its caller's next request gets 404. */
  function evict(session: McpSession): void {
    sessions.delete(session.id);
    log.info({ owner: session.owner, endpoint: session.endpoint }, "mcp session evicted: the pool is full");
    void session.transport.close().catch(() => undefined);
  }
  const sweeper = setInterval(closeIdle, Math.min(options.sessionIdleMs / 2, 60_000));
  sweeper.unref();

  return {
    get size() {
      return sessions.size;
    },

    /** The caller's session on this endpoint, or undefined (unknown, closed, or someone else's). */
    find(id: string, owner: string, endpoint: string): McpSession | undefined {
      const session = sessions.get(id);
      if (!session || session.owner !== owner || session.endpoint !== endpoint) return undefined;
      session.lastSeen = Date.now();
      return session;
    },

    /**
     * Room for one more session of `owner`. A full pool first closes idle sessions; then the caller holding the most
     * sessions gives up its least recently used one, but only to a caller holding fewer: one credential cannot fill
     * the pool and lock every other caller out, nor take back a share the others hold.
     */
    hasRoom(owner: string): boolean {
      if (sessions.size >= options.maxSessions) closeIdle();
      if (sessions.size < options.maxSessions) return true;
      const counts = new Map<string, number>();
      for (const s of sessions.values()) counts.set(s.owner, (counts.get(s.owner) ?? 0) + 1);
      const [biggest, most] = [...counts].reduce((a, b) => (b[1] > a[1] ? b : a));
      if (most <= (counts.get(owner) ?? 0)) return false;
      evict(leastRecentlyUsed(biggest));
      return true;
    },

    /**
     * A transport for a new session, its server built by `build(sessionId)` once the initialize request gave it
     * an id. The session is registered when initialized and forgotten when it closes.
     */
    async open(owner: string, endpoint: string, build: (sessionId: () => string) => Server): Promise<SessionTransport> {
      const transport = new SessionTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, { id, owner, endpoint, transport, lastSeen: Date.now() });
        },
      });
      const server = build(() => transport.sessionId ?? "");
      server.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      server.onerror = (err) => log.debug({ err: String(err) }, "mcp transport error");
      await server.connect(transport);
      return transport;
    },

    async close(): Promise<void> {
      clearInterval(sweeper);
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => undefined)));
      sessions.clear();
    },
  };
}

export type SessionRegistry = ReturnType<typeof createSessionRegistry>;
