// MCP sessions shared by the gateway nodes through Redis (REDIS_URL): what another node needs to serve a session
// it did not open. An SDK session is a live object (streams, pending requests) and stays in the memory of each node
// that serves it; what is shared is the session's record, from which any node rebuilds its own copy under the same
// id (./sessions.ts `restore`): who opened it and on which endpoint (a caller is only ever given its own session),
// and the initialize request it was opened with (the negotiated protocol version, the client's capabilities and
// clientInfo), plus the session's capability token.
//
// Layout (P = GATEHOUSE_REDIS_PREFIX):  P:mcp:session:{id}  string  the record as JSON; expires when the session was
// unused for GATEHOUSE_MCP_SESSION_IDLE_SECONDS on every node (each request refreshes it, on whichever node). A
// DELETE on any node deletes it and announces it on the event bus: every node closes its copy (and its GET streams)
// at once, and a node whose copy's record is gone closes that copy at its next use or sweep anyway. Redis
// unreachable: what needs the record fails closed with 503 REDIS_UNAVAILABLE (a session deleted elsewhere must not
// live on here).
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import type { Redis } from "ioredis";
import type { EventBus } from "../../core/events/bus";
import { problem } from "../../http/problem";

/** What any node needs to serve a session it did not open. */
export interface SharedSessionRecord {
  /** Who opened it (./mcp-face.ts `ownerOf`). */
  owner: string;
  /** The endpoint it was opened on, e.g. `agents/customer-support-bot`. */
  endpoint: string;
  /** The initialize params as the session's server answered them: the negotiated protocolVersion, the client's. */
  initialize: { protocolVersion: string; capabilities: unknown; clientInfo: unknown };
  /** The X-Capability-Token of the initialize request (agents endpoint). */
  capabilityToken?: string;
}

/**
 * The largest record shared (the client's capabilities and clientInfo are a few hundred bytes in practice); also the
 * bound on what any node keeps of an initialize, Redis or not (./mcp-face.ts `openSession`).
 */
export const MAX_SHARED_RECORD_BYTES = 64 * 1024;

/** The session ids this gateway hands out (randomUUID): anything else is not looked up. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

function unavailable(): never {
  throw problem("REDIS_UNAVAILABLE", "MCP sessions cannot be checked: Redis is unavailable; retry shortly", {
    headers: { "Retry-After": "1" },
  });
}

/** Runs a Redis command; a failure is 503 REDIS_UNAVAILABLE. */
async function redisOr503<T>(command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch {
    return unavailable();
  }
}

export function createSharedSessions(options: { redis: Redis; prefix: string; ttlMs: number; events?: EventBus }) {
  const { redis, ttlMs } = options;
  const key = (id: string) => `${options.prefix}:mcp:session:${id}`;
  return {
    /** Shares a new session's record (serialized by the caller, at most MAX_SHARED_RECORD_BYTES). */
    async create(id: string, serialized: string): Promise<void> {
      await redisOr503(() => redis.set(key(id), serialized, "PX", ttlMs));
    },

    /** The session's record (its TTL untouched: a caller that is not its owner must not keep it alive). */
    async load(id: string): Promise<SharedSessionRecord | undefined> {
      const raw = await redisOr503(() => redis.get(key(id)));
      if (raw === null) return undefined;
      try {
        return JSON.parse(raw) as SharedSessionRecord;
      } catch {
        return undefined;
      }
    },

    /** The session was used: its record lives another idle period. False when it is gone (deleted or expired). */
    async touch(id: string): Promise<boolean> {
      return (await redisOr503(() => redis.pexpire(key(id), ttlMs))) === 1;
    },

    /**
     * Deletes the record, then tells the other nodes (`mcp.session.deleted`), which close their copies and streams at
     * once. The event is a hint: a node that misses it closes its copy at its next use or sweep (the record is gone).
     */
    async delete(id: string): Promise<void> {
      await redisOr503(() => redis.del(key(id)));
      await options.events?.publish({ type: "mcp.session.deleted", session_id: id }).catch(() => undefined);
    },

    /** Of `ids`, those whose record is gone; none when Redis does not answer (checked again on their next use). */
    async gone(ids: readonly string[]): Promise<string[]> {
      if (ids.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.exists(key(id));
      const results = await pipeline.exec().catch(() => null);
      if (!results) return [];
      return ids.filter((_, i) => {
        const [err, exists] = results[i] ?? [];
        return !err && exists === 0;
      });
    },
  };
}

export type SharedSessions = ReturnType<typeof createSharedSessions>;

/**
 * The shared record of a session opened by `initialize` (an initialize request, as the SDK validated it), serialized;
 * undefined when it is larger than MAX_SHARED_RECORD_BYTES. Only what the session's server reads of the request
 * is kept; its protocol version is the one the SDK server answers with (the requested one when it supports it).
 */
export function sharedRecordOf(
  session: Omit<SharedSessionRecord, "initialize">,
  initialize: { params: { protocolVersion: string; capabilities: unknown; clientInfo: unknown } },
): string | undefined {
  const { protocolVersion, capabilities, clientInfo } = initialize.params;
  const negotiated = SUPPORTED_PROTOCOL_VERSIONS.includes(protocolVersion) ? protocolVersion : LATEST_PROTOCOL_VERSION;
  const record: SharedSessionRecord = {
    ...session,
    initialize: { protocolVersion: negotiated, capabilities, clientInfo },
  };
  const serialized = JSON.stringify(record);
  return Buffer.byteLength(serialized) <= MAX_SHARED_RECORD_BYTES ? serialized : undefined;
}
