// Session state behind a small interface: who owns a session, its seq counter and its bounded replay buffer.
// The embedded default keeps it in memory (one node); ./redis-session-store.ts mirrors it to Redis when
// REDIS_URL is set. The hot path (append, replay) is synchronous on purpose: frames are numbered and sent in
// the order they are emitted, with no await in between.

import type { SessionOwner } from "./owner";

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
  /** When a deleted (expired) session ended, if still remembered. */
  expiredAt(id: string): Date | undefined;
  /** Loads what a shared store knows about a session this node does not hold (called before the upgrade). */
  hydrate?(id: string): Promise<void>;
}

/** The in-memory store, plus what a mirroring store needs to load a session into it. */
export interface MemorySessionStore extends SessionStore {
  restore(record: SessionRecord, frames: BufferedFrame[]): void;
  rememberExpired(id: string, at: number): void;
}

export interface ReplayWindow {
  /** Frames older than this are dropped (default 2 minutes, like Socket.IO's recovery window). */
  maxAgeMs: number;
  /** And never more than this many per session. */
  maxFrames: number;
}

const TOMBSTONE_LIMIT = 10_000;

export function createMemorySessionStore(window: ReplayWindow, now: () => number = Date.now): MemorySessionStore {
  const sessions = new Map<string, { record: SessionRecord; frames: BufferedFrame[] }>();
  // Remember recently expired ids (bounded, oldest first out) so a late resume gets SESSION_EXPIRED.
  const tombstones = new Map<string, number>();

  const trim = (frames: BufferedFrame[]) => {
    const cutoff = now() - window.maxAgeMs;
    // Frames are in seq order, so the ones to drop (too old, or beyond the window) are a prefix.
    const keep = frames.findIndex((f, i) => f.at >= cutoff && frames.length - i <= window.maxFrames);
    const drop = keep === -1 ? frames.length : keep;
    if (drop) frames.splice(0, drop);
  };

  const rememberExpired = (id: string, at: number) => {
    tombstones.set(id, at);
    if (tombstones.size > TOMBSTONE_LIMIT) tombstones.delete(tombstones.keys().next().value!);
  };

  return {
    get: (id) => sessions.get(id)?.record,
    restore(record, frames) {
      const kept = [...frames].sort((a, b) => a.seq - b.seq);
      trim(kept);
      sessions.set(record.id, { record, frames: kept });
      tombstones.delete(record.id);
    },
    rememberExpired,
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
      sessions.set(id, { record, frames: [] });
      return record;
    },
    append(id, frame, replayable) {
      const s = sessions.get(id);
      if (!s) throw new Error(`unknown session ${id}`);
      const seq = s.record.nextSeq++;
      const stored: BufferedFrame = { seq, at: now(), data: JSON.stringify({ ...frame, seq }), replayable };
      s.frames.push(stored);
      trim(s.frames);
      return stored;
    },
    replay(id, lastSeq, beforeSeq) {
      const s = sessions.get(id);
      if (!s) return { ok: false };
      if (lastSeq >= s.record.nextSeq) return { ok: false, oldestSeq: s.frames[0]?.seq };
      if (lastSeq + 1 >= beforeSeq) return { ok: true, frames: [] };
      trim(s.frames);
      const oldest = s.frames[0]?.seq;
      if (oldest === undefined || oldest > lastSeq + 1) return { ok: false, oldestSeq: oldest };
      return { ok: true, frames: s.frames.filter((f) => f.seq > lastSeq && f.seq < beforeSeq && f.replayable) };
    },
    delete(id) {
      if (!sessions.delete(id)) return;
      rememberExpired(id, now());
    },
    expiredAt(id) {
      const at = tombstones.get(id);
      return at === undefined ? undefined : new Date(at);
    },
  };
}
