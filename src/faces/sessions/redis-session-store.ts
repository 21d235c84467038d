// The session store mirrored to Redis (REDIS_URL): ownership, the seq counter and the replay buffer survive
// a gateway restart, and another node can take over a session (ownership checked, missed frames replayed).
// This node's memory stays the working copy so emitting stays synchronous and ordered; every change is
// written to Redis in order on the one connection (pipelined, not awaited), and a session this node does not
// hold is loaded from Redis before its upgrade completes (`hydrate`). A live runtime turn belongs to the node
// that runs it; when the IDE resumes on another node, that node follows the frames stream (`follow`, XREAD
// BLOCK on a connection of its own) and relays what the running turn still appends, so no sticky routing is
// needed for the stream to reach the IDE without a gap.
//
// Layout (P = key prefix; {id} is the session's key, the client's id and its owner's tag: ./session-key.ts):
//   P:ws:session:{id}  hash   owner, org, created, next (the next seq), seen (when a node last had its IDE
//                      attached: the session's last activity, cluster-wide), link (the node holding its runtime
//                      link, see ./cluster.ts), agent (the session's agent, as the last confirmed agent_switched
//                      named it: the node opening the next link judges tool calls under it, ./agent-switch.ts)
//   P:ws:frames:{id}   stream entry id `{seq}-0`, fields at, r (replayable 1/0), d (the frame as sent);
//                      trimmed with MAXLEN ~ replayMaxFrames, age-trimmed on read
//   P:ws:expired:{id}  string  JSON {at, sub, org, iss}: when the session expired and whose it was (so a late
//                      resume by its owner hears SESSION_EXPIRED, and anyone else what an unknown id gets)
// Session keys expire `ttlMs` after the last write (or the last `touch` of an attached IDE); Redis errors are
// logged and the node carries on alone. A session ends once cluster-wide: `expireIfIdle` deletes it (and leaves
// the tombstone) atomically, only when `seen` is older than the idle time, whichever node's timer asks first.
import type { Redis } from "ioredis";
import { logger } from "../../core/log/logger";
import { must } from "../../core/must";
import { recordOwner, type SessionOwner, sameOwner } from "./owner";
import {
  type BufferedFrame,
  createMemorySessionStore,
  type MemorySessionStore,
  type ReplayWindow,
  type SessionRecord,
  type SessionStore,
  type Tombstone,
} from "./session-store";

const log = logger.child({ module: "sessions", store: "redis" });

export interface RedisSessionStoreOptions extends ReplayWindow {
  redis: Redis;
  /** e.g. "gatehouse"; tests use a random prefix. */
  keyPrefix: string;
  /** How long an idle session's keys live (at least the gateway's session TTL). */
  ttlMs: number;
  /**
   * This node's id in a cluster (./cluster.ts). With it, an append is refused by Redis when the session's `link`
   * names another node: a node cut off from Redis whose session was taken over meanwhile cannot write into the
   * stream the new holder numbers (its late frames would reach the IDE under that node's seqs).
   */
  nodeId?: string;
  /** How long an expired session's tombstone lives. */
  tombstoneTtlMs?: number;
  now?: () => number;
}

/** Keys of one session (the cluster layer reads and writes the `link` field of the hash). */
export function sessionKeys(keyPrefix: string) {
  return {
    session: (id: string) => `${keyPrefix}:ws:session:${id}`,
    frames: (id: string) => `${keyPrefix}:ws:frames:${id}`,
    expired: (id: string) => `${keyPrefix}:ws:expired:${id}`,
  };
}

/** Marks sessions active now and keeps their keys alive, but never recreates a deleted (expired) session. */
const TOUCH_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'seen', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 0`;

/**
 * Ends a session idle for ARGV[2] ms (-1: already gone, 0: ended now, else the ms left). Atomic, so two nodes'
 * timers firing together end it once: one deletes it and writes the tombstone, the other hears -1.
 */
const EXPIRE_SCRIPT = `
local h = redis.call('HMGET', KEYS[1], 'owner', 'seen', 'created', 'org', 'iss')
if not h[1] then return -1 end
local seen = tonumber(h[2] or h[3] or '0') or 0
local left = seen + tonumber(ARGV[2]) - tonumber(ARGV[1])
if left > 0 then return left end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], cjson.encode({at = tonumber(ARGV[1]), sub = h[1], org = h[4] or '', iss = h[5] or ''}), 'PX', ARGV[3])
return 0`;

/**
 * Appends a frame unless another node holds the session's link (ARGV[1]: this node, "" = no cluster), then drops
 * the frames before ARGV[8], the oldest the appending node's buffer kept under its byte, count and age bounds:
 * the stream holds what that buffer holds (MAXLEN alone bounds frames, not bytes: 1,000 frames of 950 KB ≈ 1 GB).
 */
const APPEND_SCRIPT = `
local link = redis.call('HGET', KEYS[1], 'link')
if ARGV[1] ~= '' and link and link ~= '' and link ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], ARGV[3], 'at', ARGV[4], 'r', ARGV[5], 'd', ARGV[6])
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[8])
redis.call('HSET', KEYS[1], 'next', ARGV[7])
return 1`;

/**
 * Sets the session's agent (ARGV[2]) unless another node holds its link (ARGV[1]: this node, "" = no cluster), as
 * APPEND_SCRIPT: a node cut off from Redis whose session was taken over cannot overwrite the new holder's. Never
 * recreates an expired session's hash.
 */
const AGENT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local link = redis.call('HGET', KEYS[1], 'link')
if ARGV[1] ~= '' and link and link ~= '' and link ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'agent', ARGV[2])
return 1`;

/** The append script as a command of the client (sent by its SHA, not its text, on every frame). */
type AppendPipeline = ReturnType<Redis["pipeline"]> & {
  gatehouseWsAppend(...args: string[]): AppendPipeline;
};
const APPEND_COMMAND = "gatehouseWsAppend";

/** Refresh a session's key expiry at most this often (not on every token). */
const EXPIRY_REFRESH_MS = 1_000;
/** How long one XREAD of a follower blocks before it looks again (and notices it was stopped). */
const FOLLOW_BLOCK_MS = 1_000;

export function createRedisSessionStore(options: RedisSessionStoreOptions): SessionStore {
  const { redis, ttlMs } = options;
  const now = options.now ?? Date.now;
  // The replay window's fields of `options`; the memory store reads nothing else.
  const local: MemorySessionStore = createMemorySessionStore(options, now);
  const tombstoneTtlMs = options.tombstoneTtlMs ?? 60 * 60_000;
  const key = sessionKeys(options.keyPrefix);
  if (!(APPEND_COMMAND in redis)) redis.defineCommand(APPEND_COMMAND, { numberOfKeys: 2, lua: APPEND_SCRIPT });
  const lastRefresh = new Map<string, number>();
  let lastErrorLog = 0;

  const run = (pipeline: ReturnType<Redis["pipeline"]>, what: string) => {
    pipeline.exec().then(
      (results) => {
        const failed = results?.find(([err]) => err);
        if (failed) report(failed[0], what);
      },
      (err: unknown) => report(err, what),
    );
  };
  const report = (err: unknown, what: string) => {
    if (now() - lastErrorLog < 10_000) return;
    lastErrorLog = now();
    log.warn({ err: String(err), what }, "redis session store write failed; this node keeps the session in memory");
  };

  const expire = (pipeline: ReturnType<Redis["pipeline"]>, id: string) => {
    const at = now();
    if (at - (lastRefresh.get(id) ?? 0) < EXPIRY_REFRESH_MS) return;
    lastRefresh.set(id, at);
    pipeline.pexpire(key.session(id), ttlMs).pexpire(key.frames(id), ttlMs);
  };

  const catchUp = async (id: string): Promise<BufferedFrame[]> => {
    const record = local.get(id);
    if (!record) return [];
    try {
      const entries = (await redis.xrange(key.frames(id), `${record.nextSeq}-0`, "+")) as [string, string[]][];
      return entries.map(toFrame).filter((frame) => local.adopt(id, frame));
    } catch (err) {
      report(err, "catch up");
      return [];
    }
  };

  return {
    get: (id) => local.get(id),
    replay: (id, lastSeq, beforeSeq) => local.replay(id, lastSeq, beforeSeq),
    expired: (id) => local.expired(id),

    create(id, owner) {
      const record = local.create(id, owner);
      // The frames stream does not exist yet: the first append sets its expiry.
      lastRefresh.delete(id);
      run(createCommands(redis, key, id, owner, record.createdAt, ttlMs), "create");
      return record;
    },

    append(id, frame, replayable) {
      const stored = local.append(id, frame, replayable);
      const pipeline = redis.pipeline() as AppendPipeline;
      pipeline.gatehouseWsAppend(
        key.session(id),
        key.frames(id),
        options.nodeId ?? "",
        String(options.maxFrames),
        `${stored.seq}-0`,
        String(stored.at),
        replayable ? "1" : "0",
        stored.data,
        String(stored.seq + 1),
        `${local.oldestSeq(id) ?? stored.seq}-0`,
      );
      expire(pipeline, id);
      run(pipeline, "append");
      return stored;
    },

    delete(id) {
      const tombstone = tombstoneText(local.get(id), now());
      local.delete(id);
      lastRefresh.delete(id);
      run(
        redis.pipeline().del(key.session(id), key.frames(id)).set(key.expired(id), tombstone, "PX", tombstoneTtlMs),
        "delete",
      );
    },

    follow: (id, afterSeq, onFrame, accept) =>
      followFrames(
        redis,
        key.frames(id),
        afterSeq,
        (frame) => {
          if (accept && !accept()) return;
          if (local.adopt(id, frame)) onFrame(frame);
        },
        (err) => report(err, "follow"),
      ),

    catchUp,

    touch(ids) {
      if (ids.length === 0) return;
      const pipeline = redis.pipeline();
      const at = String(now());
      for (const id of ids) pipeline.eval(TOUCH_SCRIPT, 2, key.session(id), key.frames(id), at, String(ttlMs));
      run(pipeline, "touch");
    },

    forget(id) {
      local.delete(id);
      lastRefresh.delete(id);
    },

    async shareAgent(id, agent) {
      // Awaited before the agent_switched frame is appended: a node that sees the frame sees the agent too.
      const written = await redis.eval(AGENT_SCRIPT, 1, key.session(id), options.nodeId ?? "", agent);
      if (written !== 1) throw new Error("the session is gone from Redis or another node holds its runtime link");
    },

    async sharedAgent(id) {
      return (await redis.hget(key.session(id), "agent")) ?? undefined;
    },

    async expireIfIdle(id, idleMs) {
      const left = await endIfIdle(redis, key, id, { now: now(), idleMs, tombstoneTtlMs });
      if (left > 0) return { expired: false, recheckInMs: left };
      local.delete(id);
      lastRefresh.delete(id);
      return { expired: true };
    },

    async hydrate(id, caller) {
      // Held here already: only what other nodes appended since is missing (the IDE was away from this node).
      const held = local.get(id);
      if (held) {
        if (!sameOwner(recordOwner(held), caller)) return recordOwner(held);
        await catchUp(id);
        return undefined;
      }
      try {
        return await loadSession(redis, key, local, id, caller);
      } catch (err) {
        report(err, "hydrate");
        return undefined;
      }
    },
  };
}

/** A new session's record (its owner, its first seq) and an empty frames stream, as one pipeline. */
function createCommands(
  redis: Redis,
  key: ReturnType<typeof sessionKeys>,
  id: string,
  owner: Parameters<SessionStore["create"]>[1],
  createdAt: number,
  ttlMs: number,
) {
  const record = {
    owner: owner.sub,
    org: owner.orgId ?? "",
    iss: owner.issuer ?? "",
    created: String(createdAt),
    seen: String(createdAt),
    next: "1",
  };
  return redis.pipeline().del(key.frames(id)).hset(key.session(id), record).pexpire(key.session(id), ttlMs);
}

/** Runs EXPIRE_SCRIPT: the ms the session still has (> 0), or 0 / -1 when it ended now / had ended already. */
async function endIfIdle(
  redis: Redis,
  key: ReturnType<typeof sessionKeys>,
  id: string,
  at: { now: number; idleMs: number; tombstoneTtlMs: number },
): Promise<number> {
  const reply = await redis.eval(
    EXPIRE_SCRIPT,
    3,
    key.session(id),
    key.frames(id),
    key.expired(id),
    String(at.now),
    String(at.idleMs),
    String(at.tombstoneTtlMs),
  );
  return Number(reply);
}

/**
 * Reads a session's owner and, only when it is the caller (ARGV: sub, org, iss), its frames — atomically, so the
 * record and its frames agree. Someone else's frames are never read, however big (up to the 8 MiB replay bound).
 * Returns {owner, org, iss, created, next}, the frames (false when not read) and the tombstone (no session).
 */
const LOAD_SCRIPT = `
local h = redis.call('HMGET', KEYS[1], 'owner', 'org', 'iss', 'created', 'next')
if not h[1] then return {h, false, redis.call('GET', KEYS[3])} end
if h[1] ~= ARGV[1] or (h[2] or '') ~= ARGV[2] or (h[3] or '') ~= ARGV[3] then return {h, false, false} end
return {h, redis.call('XRANGE', KEYS[2], '-', '+'), false}`;

/**
 * Loads a session this node does not hold from Redis (or remembers that it expired) when it is `caller`'s; of
 * someone else's session only the owner is read, and returned. Throws on a Redis error.
 */
async function loadSession(
  redis: Redis,
  key: ReturnType<typeof sessionKeys>,
  local: MemorySessionStore,
  id: string,
  caller: SessionOwner,
): Promise<SessionOwner | undefined> {
  const reply = (await redis.eval(
    LOAD_SCRIPT,
    3,
    key.session(id),
    key.frames(id),
    key.expired(id),
    caller.sub,
    caller.orgId ?? "",
    caller.issuer ?? "",
  )) as [(string | null)[], [string, string[]][] | null, string | null];
  const [[owner, org, iss, created, next] = [], entries, tombstone] = reply;
  if (!owner) {
    if (tombstone) local.rememberExpired(id, parseTombstone(tombstone));
    return undefined;
  }
  const record: SessionRecord = {
    id,
    ownerSub: owner,
    ...(org ? { orgId: org } : {}),
    ...(iss ? { ownerIssuer: iss } : {}),
    createdAt: Number(created),
    nextSeq: Number(next),
  };
  if (!entries) return recordOwner(record);
  local.restore(record, entries.map(toFrame));
  log.info({ sessionId: id, nextSeq: record.nextSeq, frames: entries.length }, "session loaded from redis");
  return undefined;
}

/** The tombstone of a session as EXPIRE_SCRIPT writes it too: when it ended and whose it was. */
function tombstoneText(record: SessionRecord | undefined, at: number): string {
  return JSON.stringify({ at, sub: record?.ownerSub ?? "", org: record?.orgId ?? "", iss: record?.ownerIssuer ?? "" });
}

/** A tombstone as stored; one without a recognizable owner (an older format) is nobody's: never disclosed. */
function parseTombstone(text: string): Tombstone {
  try {
    const { at, sub, org, iss } = JSON.parse(text) as Record<string, unknown>;
    if (typeof at === "number" && typeof sub === "string" && sub) {
      const owner = recordOwner({
        ownerSub: sub,
        ...(typeof org === "string" && org ? { orgId: org } : {}),
        ...(typeof iss === "string" && iss ? { ownerIssuer: iss } : {}),
      });
      return { at: new Date(at), owner };
    }
  } catch {
    // not JSON: the older format, a bare timestamp
  }
  return { at: new Date(Number(text) || 0) };
}

/**
 * Reads a session's frames stream from after `afterSeq` as the node that runs the turn appends to it (XREAD
 * BLOCK). A blocking read holds its connection: each follower has its own, closed by the returned stop.
 */
function followFrames(
  redis: Redis,
  streamKey: string,
  afterSeq: number,
  onFrame: (frame: BufferedFrame) => void,
  onError: (err: unknown) => void,
): () => void {
  const reader = redis.duplicate({ lazyConnect: true });
  reader.on("error", () => undefined); // reported by the read loop below
  let stopped = false;
  let last = `${afterSeq}-0`;
  const loop = async () => {
    await reader.connect();
    while (!stopped) {
      const reply = (await reader.xread("BLOCK", FOLLOW_BLOCK_MS, "STREAMS", streamKey, last)) as
        | [string, [string, string[]][]][]
        | null;
      for (const [, entries] of reply ?? [])
        for (const entry of entries) {
          last = entry[0];
          onFrame(toFrame(entry));
        }
    }
  };
  loop().catch((err) => {
    if (!stopped) onError(err);
  });
  return () => {
    stopped = true;
    reader.disconnect();
  };
}

function toFrame([entryId, fields]: [string, string[]]): BufferedFrame {
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [name, value] = [fields[i], fields[i + 1]];
    if (name !== undefined && value !== undefined) values[name] = value; // i + 1 < length: both are there
  }
  return {
    seq: Number(entryId.split("-")[0]),
    at: Number(values.at),
    replayable: values.r === "1",
    data: must(values.d, "every stored frame has its data field"),
  };
}
