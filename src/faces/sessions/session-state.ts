// The sessions this node holds and everything Gatehouse sends to an IDE: every frame is numbered (seq) and
// buffered by the store before it is written, so a dropped IDE can resume; a resume replays what it missed
// or tells it to resync. Also the session's end: expiry after the IDE left, and the SIGTERM close.
import WebSocket from "ws";
import type { UserClaims } from "../../core/identity/user-tokens";
import { CloseCode } from "./close-codes";
import type { ServerFrame } from "./frames";
import { sessionMetrics as metrics } from "./metrics";
import { isOwner, ownerOf, recordOwner, type SessionOwner, sameOwner } from "./owner";
import type { RuntimeLink } from "./runtime-link";
import { clientSessionId } from "./session-key";
import type { SessionRecord, SessionStore } from "./session-store";
import type { ToolApprovals, ToolPolicyContext } from "./tool-policy";

export { recordOwner } from "./owner";

/** A tool_call Gatehouse passed to the IDE and whose answer (decision or result) it still expects. */
export interface PendingCall {
  toolName: string;
  /** The context the policy decided the call with (reused for approvals and the outcome record). */
  ctx: ToolPolicyContext;
  approvalId?: string | undefined;
  /** The IDE may still approve, reject or edit it (false once it answered, or it was released). */
  awaitingApproval: boolean;
  /**
   * Governed calls only: the approvals store released it after the policy's re-check. Until then the IDE's own
   * approve is only a request — a tool_result would report a call that may yet be denied.
   */
  released?: boolean;
  /** Watches the approval store while an approval is pending (aborted on an IDE edit or session end). */
  watcher?: AbortController;
  /** The IDE's own approve/reject of this call, so it is not told what it just decided. */
  ideDecision?: { decision: "approve" | "reject"; messageId: string; feedback?: string | undefined } | undefined;
  /**
   * Settles once the IDE's decision being recorded was (its ack sent) or was not (ideDecision cleared), or once its
   * edit closed the original approval (the watcher then aborted) or found it decided elsewhere: the watcher waits for
   * it, so whether the IDE decided is known before the call's outcome is told.
   */
  recording?: Promise<void> | undefined;
}

export interface Connection {
  ws: WebSocket;
  /** The seq the first live frame on this socket got: an in-band resume replays only what came before. */
  firstLiveSeq: number;
  /** A resume already replayed everything before `firstLiveSeq` to this socket. */
  resumed?: boolean;
  alive: boolean;
  tokenTimer?: NodeJS.Timeout;
  /** IDE frames are handled one after another, in arrival order; none of them waits for a reply. */
  inbound: Promise<void>;
  /**
   * The close code Gatehouse decided on, when it closed the socket itself. A slow consumer's close frame
   * sits behind the bytes it does not read and the socket is terminated (locally 1006): metrics count this.
   */
  closeCodeSent?: number;
  /** Who authenticated this socket (sent along when its frames are applied on another node, ./cross-node.ts). */
  principal?: SessionOwner;
  /** The IDE socket is on another node: notices addressed to it go back there (./cross-node.ts). */
  remote?: boolean;
}

export interface LiveSession {
  record: SessionRecord;
  conn?: Connection | undefined;
  link?: RuntimeLink | undefined;
  linking?: Promise<RuntimeLink> | undefined;
  pendingCalls: Map<string, PendingCall>;
  /**
   * The runtime's current agent, from its last agent_switched that answered the IDE's switch_agent (picks the
   * manifest for tool calls).
   */
  agent?: string;
  /** Runtime frames are handled in order (a tool_call's policy check must not let later tokens overtake it). */
  runtimeQueue: Promise<void>;
  expiryTimer?: NodeJS.Timeout;
  /** When its IDE socket on this node closed (undefined while attached): who gives up a link first (./runtime-link-cap.ts). */
  detachedAt?: number | undefined;
}

export type ErrorExtras = { details?: Record<string, unknown>; retry_after?: number };

export interface SessionRegistryOptions {
  maxBufferedBytes: number;
  slowConsumerCloseMs: number;
  sessionTtlMs: number;
  /** Resolves a session's open approvals as cancelled when the session is abandoned (./tool-policy.ts). */
  approvals?: Pick<ToolApprovals, "cancel">;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>();
  /** Set by shutdown(): no new upgrades, no AGENT_UNAVAILABLE for links we close ourselves. */
  shuttingDown = false;

  constructor(
    readonly store: SessionStore,
    private readonly opts: SessionRegistryOptions,
  ) {}

  get(id: string): LiveSession | undefined {
    return this.sessions.get(id);
  }

  /** False once the session expired (or was replaced): nothing may be sent on its behalf any more. */
  isCurrent(session: LiveSession): boolean {
    return this.sessions.get(session.record.id) === session;
  }

  all(): IterableIterator<LiveSession> {
    return this.sessions.values();
  }

  /** Who owns a session, live on this node or known to the store (hydrated for `claims`, before the upgrade). */
  async ownerOf(id: string, claims: UserClaims): Promise<SessionOwner | undefined> {
    // Held here or not: a shared store loads it, or adds what other nodes appended while the IDE was away —
    // only when it is the caller's; of someone else's session only its owner is read.
    const foreign = await this.store.hydrate?.(id, ownerOf(claims));
    if (foreign) return foreign;
    const record = this.sessions.get(id)?.record ?? this.store.get(id);
    return record && recordOwner(record);
  }

  /**
   * Synchronous on purpose (right before the 101): two users racing for a new id cannot both get it. Only the
   * principal that created the session (issuer, org, sub) may attach to it; its org is never rewritten.
   */
  claim(sessionId: string, claims: UserClaims): LiveSession | undefined {
    let live = this.sessions.get(sessionId);
    if (live && !isOwner(recordOwner(live.record), claims)) return undefined;
    if (!live) {
      const known = this.store.get(sessionId);
      if (known && !isOwner(recordOwner(known), claims)) return undefined;
      const record = known ?? this.store.create(sessionId, ownerOf(claims));
      live = { record, pendingCalls: new Map(), runtimeQueue: Promise.resolve() };
      this.sessions.set(sessionId, live);
      metrics.sessions.set(this.sessions.size);
    }
    clearTimeout(live.expiryTimer);
    return live;
  }

  // ---------------------------------------------------------------- Gatehouse → IDE

  /**
   * Sends a frame (if a socket is attached). A frame of the session's stream is numbered and buffered first, so it
   * survives a dropped socket and a resume replays it. A notice about one connection (`replayable` false: a
   * refused frame, an expired token, `session_resumed`, `resync_required`) is outside the stream: it carries no
   * `seq` and takes none, so a resume never shows a gap where such a notice was.
   */
  emit(session: LiveSession, frame: ServerFrame, replayable = true, only?: Connection): void {
    if (!this.isCurrent(session)) return; // expired meanwhile: nobody can resume it
    const data = replayable ? this.store.append(session.record.id, frame, true).data : JSON.stringify(frame);
    metrics.messages.inc({ direction: "gateway_to_ide", type: frame.type });
    const conn = only?.remote ? only : session.conn;
    if (conn && (!only || only === conn)) this.deliver(conn, data);
  }

  /** The canonical error frame: `message` and `content` carry the same text (the seed uses both). */
  sendError(
    session: LiveSession,
    code: string,
    text: string,
    extras: ErrorExtras = {},
    replayable = true,
    only?: Connection,
  ): void {
    this.emit(session, { type: "error", error_code: code, message: text, content: text, ...extras }, replayable, only);
  }

  private deliver(conn: Connection, data: string): void {
    const ws = conn.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (this.closeIfSlow(conn)) return;
    ws.send(data);
  }

  /**
   * Slow consumer: more than maxBufferedBytes wait for the socket (frames, or the pongs `ws` queued for the IDE's
   * pings). Nothing more is queued: it is closed 1013, and everything stays in the replay buffer, so it can resume.
   */
  closeIfSlow(conn: Connection): boolean {
    if (conn.ws.bufferedAmount <= this.opts.maxBufferedBytes) return false;
    this.closeFor(conn, CloseCode.TRY_AGAIN_LATER, "slow consumer; reconnect and resume");
    return true;
  }

  /**
   * Gatehouse closes a socket for what its client did. Its close frame may sit behind bytes the client does not
   * read, so the socket is cut after slowConsumerCloseMs (the metric still counts `code`, the code it was sent).
   */
  closeFor(conn: Connection, code: number, reason: string): void {
    const ws = conn.ws;
    conn.closeCodeSent ??= code;
    ws.close(code, reason);
    setTimeout(() => ws.terminate(), this.opts.slowConsumerCloseMs).unref();
  }

  /** A frame of this session's stream that another node numbered and buffered (a turn running there). */
  relay(session: LiveSession, conn: Connection, frame: { data: string; replayable: boolean }): void {
    if (!this.isCurrent(session) || session.conn !== conn || !frame.replayable) return;
    metrics.messages.inc({ direction: "gateway_to_ide", type: "relayed" });
    this.deliver(conn, frame.data);
  }

  /** Replays the replayable frames after `lastSeq` (and before `beforeSeq`) to `conn`, or asks for a resync. */
  resume(session: LiveSession, conn: Connection, lastSeq: number, beforeSeq: number): void {
    const id = session.record.id;
    if (session.record.nextSeq === 1 && lastSeq > 0) {
      this.refuseUnknownResume(session);
      return;
    }
    // What an earlier resume replayed to this socket has arrived (in order, on TCP): a second resume, in-band or
    // after the handshake's, sends none of it again.
    const from = conn.resumed ? Math.max(lastSeq, beforeSeq - 1) : lastSeq;
    const result = this.store.replay(id, from, beforeSeq);
    if (!result.ok) {
      this.emit(
        session,
        {
          type: "resync_required",
          session_id: clientSessionId(id),
          last_seq: lastSeq,
          ...(result.oldestSeq !== undefined ? { oldest_seq: result.oldestSeq } : {}),
          message: `Frames after seq ${lastSeq} are no longer available; reload the session state.`,
        },
        false,
      );
      return;
    }
    for (const frame of result.frames) this.deliver(conn, frame.data);
    conn.resumed = true;
    this.emit(
      session,
      { type: "session_resumed", session_id: clientSessionId(id), last_seq: lastSeq, replayed: result.frames.length },
      false,
    );
  }

  /**
   * Whether `claims` may resume the session `owner` (as `ownerOf` found it) names: it is theirs, or it expired while
   * it was theirs. Anyone else hears what an unknown id gets: that a client-chosen id exists, or when it ended, is
   * its owner's business only.
   */
  mayResume(id: string, owner: SessionOwner | undefined, claims: UserClaims): boolean {
    if (owner !== undefined) return isOwner(owner, claims);
    const previous = this.store.expired(id)?.owner;
    return previous !== undefined && isOwner(previous, claims);
  }

  /**
   * Nothing of this session is known here: it expired or never existed on this node. That it expired, and when,
   * is told only to the principal it belonged to (the id may have been taken afresh by someone else since).
   */
  private refuseUnknownResume(session: LiveSession): void {
    const id = session.record.id;
    const tombstone = this.store.expired(id);
    const expiredAt = tombstone?.owner && sameOwner(tombstone.owner, recordOwner(session.record)) && tombstone.at;
    if (expiredAt) {
      this.sendError(
        session,
        "SESSION_EXPIRED",
        "Session has expired. Please reconnect.",
        {
          details: { session_id: clientSessionId(id), expired_at: expiredAt.toISOString() },
        },
        false,
      );
    } else {
      this.sendError(
        session,
        "SESSION_NOT_FOUND",
        "Session not found",
        {
          details: { session_id: clientSessionId(id) },
        },
        false,
      );
    }
  }

  // ---------------------------------------------------------------- the end of a session

  /** The IDE left: unless it comes back within the TTL, stop the runtime's work and forget the session. */
  scheduleExpiry(session: LiveSession, delayMs = this.opts.sessionTtlMs): void {
    clearTimeout(session.expiryTimer);
    session.expiryTimer = setTimeout(() => void this.expire(session), delayMs);
    session.expiryTimer.unref();
  }

  /**
   * With a shared store the IDE may have resumed on another node: the session ends only once no node has seen
   * its IDE for the TTL (once, cluster-wide; the store decides); until then this node looks again when it could
   * be. A store that cannot answer (Redis down) leaves this node to decide alone, as without Redis.
   */
  private async expire(session: LiveSession): Promise<void> {
    if (session.conn || !this.isCurrent(session)) return;
    const id = session.record.id;
    let endedInStore = false;
    if (this.store.expireIfIdle) {
      try {
        const check = await this.store.expireIfIdle(id, this.opts.sessionTtlMs);
        if (session.conn || !this.isCurrent(session)) return;
        if (!check.expired) return this.scheduleExpiry(session, check.recheckInMs);
        endedInStore = true;
      } catch {
        // Fall through: expire here alone.
      }
    }
    this.end(session, "the session was abandoned (the IDE did not come back)", endedInStore);
  }

  /**
   * Ends the session on this node: its runtime link closed, its open approvals cancelled, and forgotten — a
   * resume hears SESSION_EXPIRED, the same id opens a new session. `endedInStore`: the shared store already
   * deleted it (else it is deleted there too, leaving the tombstone).
   */
  end(session: LiveSession, reason: string, endedInStore = false): void {
    if (!this.isCurrent(session)) return;
    const id = session.record.id;
    clearTimeout(session.expiryTimer);
    const link = session.link;
    session.link = undefined;
    link?.close();
    this.cancelApprovals(session, reason);
    this.sessions.delete(id);
    if (!endedInStore) this.store.delete(id);
    metrics.sessions.set(this.sessions.size);
  }

  /**
   * Another node's IDE ended the session (close 1000): this node's copy ends too — the runtime link it may hold
   * closed, the approvals its turn waits for cancelled — unless an IDE is attached to it here. The shared record
   * is already gone (a newer session under the same id is not touched).
   */
  endedElsewhere(id: string): void {
    const session = this.sessions.get(id);
    if (!session || session.conn) return;
    this.end(session, "the IDE ended the session (close 1000)", true);
    this.store.forget?.(id);
  }

  /**
   * The IDE closed with 1000 of its own accord: the session ends now, on every node (`onEndedByIde` tells the
   * others, set when nodes share Redis), not at the end of the TTL.
   */
  endedByIde(session: LiveSession): void {
    this.end(session, "the IDE ended the session (close 1000)");
    this.onEndedByIde?.(session.record.id);
  }

  /** Announces a session the IDE ended to the other nodes (./cluster.ts); unset on one node. */
  onEndedByIde?: (sessionId: string) => void;

  /**
   * The session's open approvals are resolved as cancelled and nobody follows them any more: they were asked
   * for this session only, and no other session may answer or use them. The calls are forgotten. A call already
   * released is not waiting for an approval: the IDE may be running it, and its tool_result is still the
   * outcome of a call the engine authorized (refused, the audit log would keep its intent without one).
   */
  cancelApprovals(session: LiveSession, reason: string): void {
    stopWatching(session);
    for (const [callId, pending] of session.pendingCalls) {
      if (pending.approvalId === undefined || pending.released) continue;
      session.pendingCalls.delete(callId);
      this.opts.approvals?.cancel?.(pending.ctx, pending.approvalId, reason).catch(() => undefined);
    }
  }

  /** SIGTERM: close every socket with 1012 (reconnect and resume elsewhere) and drop every runtime link. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const closing: Promise<void>[] = [];
    for (const session of this.sessions.values()) {
      clearTimeout(session.expiryTimer);
      stopWatching(session);
      session.link?.close();
      const ws = session.conn?.ws;
      if (ws && ws.readyState !== WebSocket.CLOSED) closing.push(closeForRestart(ws));
    }
    await Promise.all(closing);
  }
}

/** The session is gone: nobody follows its approvals any more (they stay in the store for operators). */
function stopWatching(session: LiveSession): void {
  for (const pending of session.pendingCalls.values()) pending.watcher?.abort();
}

function closeForRestart(ws: WebSocket): Promise<void> {
  return new Promise<void>((resolve) => {
    ws.once("close", () => resolve());
    ws.close(CloseCode.SERVICE_RESTART, "resume");
    setTimeout(() => {
      ws.terminate();
      resolve();
    }, 2_000).unref();
  });
}
