// The open MCP sessions of this node: one SDK transport + server per session, bound to the credential and the
// endpoint that opened it (another caller presenting its id gets 404, as for an unknown id). Bounded: at most
// `maxSessions`, shared between credentials (`reserve`, ./session-pool.ts), and a session unused for
// `sessionIdleMs` is closed.
// Without Redis a session lives in this process's memory only. With Redis (`shared`, ./shared-sessions.ts) every
// session's record is shared: a node that does not hold a session rebuilds it from its record (`restore`), a
// node's copy is used only while the record exists, and a DELETE on any node deletes the record and closes every
// node's copy at once (the `mcp.session.deleted` event).
import { randomUUID } from "node:crypto";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { type InitializeRequest, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { EventBus } from "../../core/events/bus";
import { logger } from "../../core/log/logger";
import { type PoolSlot, sessionPool } from "./session-pool";
import type { SharedSessions } from "./shared-sessions";
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
  /** The records of the sessions, shared by the nodes (REDIS_URL); absent: sessions are this node's only. */
  shared?: SharedSessions | undefined;
  /** The nodes' event bus: a session deleted on any node (`mcp.session.deleted`) is closed here at once. */
  events?: EventBus | undefined;
}

/** A session's server, given the session's id once its transport has one. */
export type BuildServer = (sessionId: () => string) => Server;

export function createSessionRegistry(options: SessionRegistryOptions) {
  const sessions = new Map<string, McpSession>();
  const { shared } = options;

  const pool = sessionPool(sessions, options);
  /** Copies whose shared record is gone (deleted on another node, or expired) are closed. */
  async function closeDeleted(): Promise<void> {
    if (!shared || sessions.size === 0) return;
    for (const id of await shared.gone([...sessions.keys()])) void sessions.get(id)?.transport.close();
  }
  const sweeper = setInterval(
    () => {
      pool.closeIdle();
      void closeDeleted().catch(() => undefined);
    },
    Math.min(options.sessionIdleMs / 2, 60_000),
  );
  sweeper.unref();
  const stopListening = options.events?.subscribe("mcp.session.deleted", ({ session_id }) => {
    const session = sessions.get(session_id);
    if (!session) return;
    sessions.delete(session_id);
    void session.transport.close().catch(() => undefined);
  });

  /**
   * A transport for a session with id `id`, its server built by `build(sessionId)` once the initialize request
   * gave it its id. The session is registered when initialized and forgotten when it closes; closed by a DELETE,
   * its shared record is deleted (before the DELETE is answered).
   */
  async function open(
    slot: PoolSlot,
    owner: string,
    endpoint: string,
    build: BuildServer,
    id: string,
  ): Promise<SessionTransport> {
    // No enableDnsRebindingProtection / allowedHosts / allowedOrigins: the HTTP layer refuses a Host or Origin the
    // gateway does not answer for before any door, this one included (src/http/boundary/hosts.ts). The SDK's lists
    // compare whole values (port included), answer a JSON-RPC 403 instead of problem+json, are deprecated in the SDK
    // for a check in front of it, and would refuse initializedCopy's internal URL below.
    const transport = new SessionTransport({
      sessionIdGenerator: () => id,
      onsessioninitialized: (sessionId) => {
        // The slot becomes the session: counted once, from now on as registered.
        slot.release();
        const session = { id: sessionId, owner, endpoint, transport, lastSeen: Date.now() };
        sessions.set(sessionId, session);
        // Used until a call's end, not only from its start: a long call's session is not the least recently used.
        transport.onsettled = () => {
          session.lastSeen = Date.now();
        };
      },
      ...(shared ? { onsessionclosed: (sessionId: string) => shared.delete(sessionId) } : {}),
    });
    const server = build(() => transport.sessionId ?? "");
    server.onclose = () => {
      if (transport.sessionId && sessions.get(transport.sessionId)?.transport === transport)
        sessions.delete(transport.sessionId);
    };
    server.onerror = (err) => log.debug({ err: String(err) }, "mcp transport error");
    await server.connect(transport);
    return transport;
  }

  /** In-flight restores by session id: two requests of one session arriving together rebuild it once. */
  const restoring = new Map<string, Promise<McpSession | undefined>>();

  return {
    get size() {
      return sessions.size;
    },

    /** Sessions are shared by the nodes (Redis): `findShared` and `restore` apply, not `find` alone. */
    shared,

    /** The caller's session on this endpoint, or undefined (unknown, closed, or someone else's). */
    find(id: string, owner: string, endpoint: string): McpSession | undefined {
      const session = sessions.get(id);
      if (!session || session.owner !== owner || session.endpoint !== endpoint) return undefined;
      session.lastSeen = Date.now();
      return session;
    },

    /** Whether this node holds session `id` (whoever's it is). */
    holds(id: string): boolean {
      return sessions.has(id);
    },

    /**
     * With shared sessions: the caller's session held here, while its shared record exists (its use refreshes
     * the record; a copy whose record is gone is closed). Undefined also when this node does not hold it.
     */
    async findShared(id: string, owner: string, endpoint: string): Promise<McpSession | undefined> {
      const session = this.find(id, owner, endpoint);
      if (!session || !shared) return session;
      if (await shared.touch(id)) return session;
      log.info({ endpoint }, "mcp session closed here: it was deleted on another node or expired");
      sessions.delete(id);
      await session.transport.close().catch(() => undefined);
      return undefined;
    },

    /**
     * Session `id` of `owner` rebuilt on this node from its shared record (the caller checked that the record is
     * theirs, and reserved its `slot`, which the caller releases). Undefined when it cannot be (the record is not a
     * valid initialize).
     */
    restore(
      slot: PoolSlot,
      id: string,
      owner: string,
      endpoint: string,
      initialize: InitializeRequest["params"],
      build: BuildServer,
    ): Promise<McpSession | undefined> {
      const running = restoring.get(id);
      if (running) return running.then((s) => (s && s.owner === owner && s.endpoint === endpoint ? s : undefined));
      const message = { jsonrpc: "2.0", id: "gatehouse-restore", method: "initialize", params: initialize };
      if (!isInitializeRequest(message)) return Promise.resolve(undefined);
      const restored = open(slot, owner, endpoint, build, id)
        .then((transport) => initializedCopy(transport, sessions, endpoint, message))
        .finally(() => restoring.delete(id));
      restoring.set(id, restored);
      return restored;
    },

    /** Room for one more session of `owner` (./session-pool.ts), or undefined when there is none. */
    reserve: (owner: string): PoolSlot | undefined => pool.reserve(owner),

    /** A transport for a new session (a new id) in `slot`, its server built by `build` (see `open`). */
    open(
      slot: PoolSlot,
      owner: string,
      endpoint: string,
      build: BuildServer,
      id: string = randomUUID(),
    ): Promise<SessionTransport> {
      return open(slot, owner, endpoint, build, id);
    },

    async close(): Promise<void> {
      clearInterval(sweeper);
      stopListening?.();
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => undefined)));
      sessions.clear();
    },
  };
}

export type SessionRegistry = ReturnType<typeof createSessionRegistry>;

/**
 * A session opened on another node, rebuilt here (`transport`, new, with the session's id) from its shared record:
 * the SDK transport is initialized by the client's initialize request as the record keeps it (with the protocol
 * version the session negotiated), which the session's server answers as it did there; that answer, already given
 * to the client, is dropped. Undefined (the transport closed) if the transport did not take it.
 */
async function initializedCopy(
  transport: SessionTransport,
  held: ReadonlyMap<string, McpSession>,
  endpoint: string,
  initialize: InitializeRequest,
): Promise<McpSession | undefined> {
  const request = new Request(`http://gatehouse.internal/mcp/${endpoint}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
  });
  const response = await transport.sdk.handleRequest(request, { parsedBody: initialize });
  await response.text();
  const session = transport.sessionId === undefined ? undefined : held.get(transport.sessionId);
  if (response.status === 200 && session?.transport === transport) return session;
  log.warn({ status: response.status, endpoint }, "mcp session could not be restored from its shared record");
  await transport.close().catch(() => undefined);
  return undefined;
}
