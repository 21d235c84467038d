// Session state behind a small interface: who owns a session, its seq counter and its bounded replay buffer.
// The embedded default keeps it in memory (one node); ./redis-session-store.ts mirrors it to Redis when
// REDIS_URL is set. The hot path (append, replay) is synchronous on purpose: frames are numbered and sent in
// the order they are emitted, with no await in between.

import { recordOwner, type SessionOwner } from "./owner";

export interface BufferedFrame {
  seq: number;
  /** Epoch ms when the frame was emitted. */
  at: number;
  /** The serialized frame as sent. */
  data: string;
  /** Connection-scoped notices (TOKEN_EXPIRED, INVALID_MESSAGE, …) take a seq but are not replayed. */
  replayable: boolean;
}

export interface SessionRecord {
  id: string;
  ownerSub: string;
  /** Fixed at creation: a session's org never changes. */
  orgId?: string;
  /** The issuer of the owner's token (see ./owner.ts). */
  ownerIssuer?: string;
  createdAt: number;
  /** The seq the next emitted frame gets (starts at 1). */
  nextSeq: number;
}

/** What is remembered of an expired session: when it ended and whose it was (only its owner may hear of it). */
export interface Tombstone {
  at: Date;
  /** Absent on a tombstone written before owners were recorded: then it is nobody's (never disclosed). */
  owner?: SessionOwner;
}

export type ReplayResult =
  | { ok: true; frames: BufferedFrame[] }
  /** Frames after `lastSeq` have left the buffer (or `lastSeq` is from the future): the IDE must resync. */
  | { ok: false; oldestSeq?: number | undefined };

export interface SessionStore {
  get(id: string): SessionRecord | undefined;
  create(id: string, owner: SessionOwner): SessionRecord;
  /** Assigns the next seq, stamps it into the frame, stores and returns the serialized frame. */
  append(id: string, frame: { type: string }, replayable: boolean): BufferedFrame;
  /** Replayable frames with lastSeq < seq < beforeSeq, in order. */
  replay(id: string, lastSeq: number, beforeSeq: number): ReplayResult;
  delete(id: string): void;
  /** When a deleted (expired) session ended and whose it was, if still remembered. */
  expired(id: string): Tombstone | undefined;
  /**
   * Loads what a shared store knows about a session this node does not hold (called before the upgrade), its
   * frames only when it is `caller`'s: resolves with the owner of a session that is someone else's, of which
   * nothing is loaded (a stranger cannot make a node pull in, and pay for, a victim's replay buffer).
   */
  hydrate?(id: string, caller: SessionOwner): Promise<SessionOwner | undefined>;
  /**
   * The frames another node appends to this session after `afterSeq` (a turn still running there after its IDE
   * moved here), each added to this node's buffer under its own seq and handed to `onFrame`, in order. A shared
   * store only; returns the function that stops following.
   */
  follow?(
    id: string,
    afterSeq: number,
    onFrame: (frame: BufferedFrame) => void,
    /** Asked before each frame is added: false once this node numbers the session's frames itself. */
    accept?: () => boolean,
  ): () => void;
  /**
   * A shared store: the frames other nodes appended after this node's copy, added to the buffer and returned in
   * order (before this node numbers frames itself, and before a resume replays from its copy).
   */
  catchUp?(id: string): Promise<BufferedFrame[]>;
  /** A shared store: the sessions' IDEs are attached to this node now (their last activity, cluster-wide). */
  touch?(ids: string[]): void;
  /**
   * A shared store: ends the session, once cluster-wide, when no node has seen its IDE for `idleMs` (the local
   * copy is dropped too); else says when to look again. A session another node ended counts as ended.
   */
  expireIfIdle?(id: string, idleMs: number): Promise<{ expired: true } | { expired: false; recheckInMs: number }>;
  /** A shared store: drops this node's copy of a session another node ended (its shared record is gone already). */
  forget?(id: string): void;
  /**
   * A shared store: the session's agent is now `agent` (a confirmed agent_switched, on the node holding its runtime
   * link), for whichever node holds the link next. Resolves once written; rejects when it was not (Redis cannot be
   * written, or refused it: the session is gone or another node holds its link), and the caller must not take the
   * switch (./agent-switch.ts).
   */
  shareAgent?(id: string, agent: string): Promise<void>;
  /** A shared store: the session's agent as last shared (undefined: never switched). Rejects when unreadable. */
  sharedAgent?(id: string): Promise<string | undefined>;
}

/** The in-memory store, plus what a mirroring store needs to load a session into it. */
export interface MemorySessionStore extends SessionStore {
  restore(record: SessionRecord, frames: BufferedFrame[]): void;
  /** A frame another node numbered: buffered under its seq; false when this node already has that seq. */
  adopt(id: string, frame: BufferedFrame): boolean;
  rememberExpired(id: string, tombstone: Tombstone): void;
  /** The oldest frame the session's buffer still holds after its bounds (age, count, bytes) were applied. */
  oldestSeq(id: string): number | undefined;
}

export interface ReplayWindow {
  /** Frames older than this are dropped (default 2 minutes, like Socket.IO's recovery window). */
  maxAgeMs: number;
  /** And never more than this many per session. */
  maxFrames: number;
  /** Nor more than this many bytes per session (default 8 MiB): a few huge frames cannot pin hundreds of MB. */
  maxBytes?: number;
  /** Nor more than this many bytes over every session of the node (default 64 MiB); the biggest buffer gives first. */
  maxTotalBytes?: number;
  /**
   * Every this many ms, frames past `maxAgeMs` are dropped from every buffer (default 1 s), so an idle or
   * dropped session's buffer is freed at the end of the window (not up to a whole interval later) even when
   * nothing is appended to it or replayed from it; 0 = never. A tick only looks at each buffer's oldest frame.
   */
  trimIntervalMs?: number;
}

export const DEFAULT_REPLAY_MAX_BYTES = 8 * 1024 * 1024;
export const DEFAULT_REPLAY_MAX_TOTAL_BYTES = 64 * 1024 * 1024;
export const DEFAULT_REPLAY_TRIM_INTERVAL_MS = 1_000;

interface Buffered {
  record: SessionRecord;
  frames: BufferedFrame[];
  /** Sum of the frames' `bytes`. */
  bytes: number;
}

/** What a buffered frame costs: its serialized text (V8 keeps ASCII at one byte per character). */
const costOf = (frame: BufferedFrame) => frame.data.length;

const TOMBSTONE_LIMIT = 10_000;

export function createMemorySessionStore(window: ReplayWindow, now: () => number = Date.now): MemorySessionStore {
  const sessions = new Map<string, Buffered>();
  // Remember recently expired ids (bounded, oldest first out) so a late resume gets SESSION_EXPIRED.
  const tombstones = new Map<string, Tombstone>();
  const maxBytes = window.maxBytes ?? DEFAULT_REPLAY_MAX_BYTES;
  const maxTotalBytes = window.maxTotalBytes ?? DEFAULT_REPLAY_MAX_TOTAL_BYTES;
  let totalBytes = 0;

  const dropFront = (s: Buffered, count: number) => {
    if (count <= 0) return;
    for (const frame of s.frames.splice(0, count)) s.bytes -= costOf(frame);
  };

  /** Drops frames past the age, count and byte bounds of one session (oldest first). */
  const trim = (s: Buffered) => {
    const before = s.bytes;
    const cutoff = now() - window.maxAgeMs;
    const frames = s.frames;
    let drop = 0;
    let bytes = s.bytes;
    while (
      drop < frames.length &&
      (frames[drop]!.at < cutoff || frames.length - drop > window.maxFrames || bytes > maxBytes)
    ) {
      bytes -= costOf(frames[drop]!);
      drop++;
    }
    dropFront(s, drop);
    totalBytes -= before - s.bytes;
  };

  /** Over the node-wide bound: the session holding the most bytes gives its oldest frames first. */
  const trimTotal = () => {
    while (totalBytes > maxTotalBytes) {
      let biggest: Buffered | undefined;
      for (const s of sessions.values()) if (s.frames.length && (!biggest || s.bytes > biggest.bytes)) biggest = s;
      if (!biggest) return;
      const cost = costOf(biggest.frames[0]!);
      dropFront(biggest, 1);
      totalBytes -= cost;
    }
  };

  const trimInterval = window.trimIntervalMs ?? DEFAULT_REPLAY_TRIM_INTERVAL_MS;
  if (trimInterval > 0) {
    setInterval(() => {
      for (const s of sessions.values()) trim(s);
    }, trimInterval).unref();
  }

  const rememberExpired = (id: string, tombstone: Tombstone) => {
    tombstones.set(id, tombstone);
    if (tombstones.size > TOMBSTONE_LIMIT) tombstones.delete(tombstones.keys().next().value!);
  };

  return {
    get: (id) => sessions.get(id)?.record,
    restore(record, frames) {
      const previous = sessions.get(record.id);
      if (previous) totalBytes -= previous.bytes;
      const kept = [...frames].sort((a, b) => a.seq - b.seq);
      const bytes = kept.reduce((sum, f) => sum + costOf(f), 0);
      const restored: Buffered = { record, frames: kept, bytes };
      totalBytes += bytes;
      sessions.set(record.id, restored);
      trim(restored);
      trimTotal();
      tombstones.delete(record.id);
    },
    rememberExpired,
    adopt(id, frame) {
      const s = sessions.get(id);
      if (!s || frame.seq < s.record.nextSeq) return false;
      s.record.nextSeq = frame.seq + 1;
      s.frames.push(frame);
      s.bytes += costOf(frame);
      totalBytes += costOf(frame);
      trim(s);
      trimTotal();
      return true;
    },
    create(id, owner) {
      const record: SessionRecord = {
        id,
        ownerSub: owner.sub,
        ...(owner.orgId !== undefined ? { orgId: owner.orgId } : {}),
        ...(owner.issuer !== undefined ? { ownerIssuer: owner.issuer } : {}),
        createdAt: now(),
        nextSeq: 1,
      };
      // The tombstone stays: a resume with an old last_seq on this fresh record still hears SESSION_EXPIRED.
      const previous = sessions.get(id);
      if (previous) totalBytes -= previous.bytes;
      sessions.set(id, { record, frames: [], bytes: 0 });
      return record;
    },
    append(id, frame, replayable) {
      const s = sessions.get(id);
      if (!s) throw new Error(`unknown session ${id}`);
      const seq = s.record.nextSeq++;
      const stored: BufferedFrame = { seq, at: now(), data: JSON.stringify({ ...frame, seq }), replayable };
      s.frames.push(stored);
      s.bytes += costOf(stored);
      totalBytes += costOf(stored);
      trim(s);
      trimTotal();
      return stored;
    },
    replay(id, lastSeq, beforeSeq) {
      const s = sessions.get(id);
      if (!s) return { ok: false };
      if (lastSeq >= s.record.nextSeq) return { ok: false, oldestSeq: s.frames[0]?.seq };
      if (lastSeq + 1 >= beforeSeq) return { ok: true, frames: [] };
      trim(s);
      const oldest = s.frames[0]?.seq;
      if (oldest === undefined || oldest > lastSeq + 1) return { ok: false, oldestSeq: oldest };
      return { ok: true, frames: s.frames.filter((f) => f.seq > lastSeq && f.seq < beforeSeq && f.replayable) };
    },
    delete(id) {
      const s = sessions.get(id);
      if (!s) return;
      totalBytes -= s.bytes;
      sessions.delete(id);
      rememberExpired(id, { at: new Date(now()), owner: recordOwner(s.record) });
    },
    expired: (id) => tombstones.get(id),
    oldestSeq: (id) => sessions.get(id)?.frames[0]?.seq,
  };
}
