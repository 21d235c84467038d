// One IDE socket after its 101: it replaces an older socket of the same session, feeds IDE frames in order
// to the inbound handler, is closed when its token expires, and leaves the session to expire when it closes.
import WebSocket, { type RawData } from "ws";
import type { UserClaims } from "../../core/identity/user-tokens";
import { logger } from "../../core/log/logger";
import { CloseCode, closeCodeLabel } from "./close-codes";
import { sessionMetrics as metrics } from "./metrics";
import { ownerOf } from "./owner";
import { pingAllowance, type PingAllowance } from "./ping-allowance";
import { readBacklog } from "./read-backlog";
import type { Connection, LiveSession, SessionRegistry } from "./session-state";

const log = logger.child({ module: "sessions" });

/** Who connected to which session, as decided before the 101. */
export interface UpgradeContext {
  /** The session's key: the IDE's id and its owner's tag (./session-key.ts). */
  sessionId: string;
  claims: UserClaims;
  /** The resume point offered in the handshake; undefined = fresh connect. */
  lastSeq?: number | undefined;
}

export type IdeFrameHandler = (
  session: LiveSession,
  conn: Connection,
  data: RawData,
  isBinary: boolean,
  receivedAt: number,
) => Promise<void>;

/** What one IDE socket may make the gateway hold or do (./options.ts). */
export interface ConnectionLimits {
  /** Bytes of read frames waiting to be handled before the socket is no longer read. */
  maxQueuedBytes: number;
  pingsPerMinute: number;
}

export function acceptConnection(
  registry: SessionRegistry,
  onFrame: IdeFrameHandler,
  ws: WebSocket,
  ctx: UpgradeContext,
  limits: ConnectionLimits,
): void {
  const session = registry.get(ctx.sessionId)!;
  const previous = session.conn;
  if (previous) previous.ws.close(CloseCode.REPLACED, "session opened on another socket");

  const conn: Connection = {
    ws,
    firstLiveSeq: session.record.nextSeq,
    alive: true,
    inbound: Promise.resolve(),
    principal: ownerOf(ctx.claims),
  };
  session.conn = conn;
  session.detachedAt = undefined;
  registry.store.touch?.([ctx.sessionId]);
  metrics.activeConnections.inc();
  log.info({ sessionId: ctx.sessionId, sub: ctx.claims.sub }, "IDE connected");

  ws.on("pong", () => {
    conn.alive = true;
  });
  const pings = pingAllowance(limits.pingsPerMinute);
  ws.on("ping", () => onIdePing(registry, conn, pings));
  const queue = readBacklog(ws, limits.maxQueuedBytes);
  ws.on("message", (data, isBinary) => {
    const receivedAt = performance.now();
    const queued = queue.add(data);
    conn.inbound = conn.inbound
      .then(() => onFrame(session, conn, data, isBinary, receivedAt))
      .catch((err) => {
        log.error({ err, sessionId: ctx.sessionId }, "IDE frame handling failed");
        if (registry.isCurrent(session))
          registry.sendError(session, "INTERNAL_ERROR", "Internal error", {}, false, conn);
      })
      .finally(() => queue.done(queued));
  });
  // When `ws` closes a socket itself (a frame above maxPayload → 1009, a text frame that is not UTF-8 → 1007), its
  // local close event reports 1006: remember the code the IDE was sent, so the metric counts what clients saw.
  ws.on("error", (err: Error & { code?: string }) => {
    if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") conn.closeCodeSent ??= CloseCode.MESSAGE_TOO_BIG;
    if (err.code === "WS_ERR_INVALID_UTF8") conn.closeCodeSent ??= CloseCode.INVALID_PAYLOAD;
    log.debug({ err, sessionId: ctx.sessionId }, "IDE socket error");
  });
  const stopFollowing = followElsewhere(registry, session, conn, ctx);
  ws.on("close", (code) => {
    stopFollowing();
    metrics.activeConnections.dec();
    metrics.closes.inc({ code: closeCodeLabel(conn.closeCodeSent ?? code) });
    clearTimeout(conn.tokenTimer);
    if (session.conn === conn) {
      session.conn = undefined;
      session.detachedAt = Date.now();
      // The session's last activity, cluster-wide: its TTL counts from now on every node.
      registry.store.touch?.([ctx.sessionId]);
      // Closed with 1000 by the IDE: the session ends now (nothing to resume, nothing left waiting); else it
      // stays resumable until the TTL.
      if (endedByIde(registry, conn, code)) registry.endedByIde(session);
      else registry.scheduleExpiry(session);
    }
  });

  armTokenExpiry(registry, session, conn, ctx.claims.exp);

  // A resume point in the handshake: replay before any live frame, so the IDE sees one ordered stream.
  if (ctx.lastSeq !== undefined) registry.resume(session, conn, ctx.lastSeq, session.record.nextSeq);
}

/**
 * The IDE pinged, and `ws` has already queued its pong. That pong counts as any byte queued for the socket (past
 * maxBufferedBytes: a slow consumer, 1013); a ping beyond the socket's allowance closes it 1008 (resumable), so a
 * client cannot make the gateway write pongs without bound.
 */
function onIdePing(registry: SessionRegistry, conn: Connection, pings: PingAllowance): void {
  if (conn.ws.readyState !== WebSocket.OPEN) return;
  if (registry.closeIfSlow(conn)) return;
  if (pings.take()) return;
  log.warn({ principal: conn.principal?.sub }, "IDE socket pinged more than its allowance; closing 1008");
  registry.closeFor(conn, CloseCode.POLICY_VIOLATION, "too many pings; reconnect and resume");
}

/**
 * A session this node runs no turn for (a resume, or a session with frames already): the turn may be running on
 * the node the IDE left. Follow the shared stream and relay what that node appends — its turn, and the acks of
 * the frames this node forwards to it (./cross-node.ts) — until this socket closes or this node starts a turn of
 * its own. Nothing to do on a store that is not shared.
 */
function followElsewhere(
  registry: SessionRegistry,
  session: LiveSession,
  conn: Connection,
  ctx: UpgradeContext,
): () => void {
  const follow = registry.store.follow;
  const known = ctx.lastSeq !== undefined || session.record.nextSeq > 1;
  if (!known || session.link || session.linking || !follow) return () => undefined;
  // Checked before a frame is adopted: once this node opened a link (it numbers the frames), nothing is followed.
  const following = () => {
    const still = !session.link && !session.linking && session.conn === conn;
    if (!still) stop();
    return still;
  };
  const stop = follow.call(
    registry.store,
    ctx.sessionId,
    session.record.nextSeq - 1,
    (frame) => registry.relay(session, conn, frame),
    following,
  );
  return stop;
}

/**
 * The IDE closed with 1000 of its own accord: it is done with the session and will not resume it, so the session
 * ends now (its buffer freed, its runtime link closed, its open approvals cancelled) rather than at the TTL. Not
 * when Gatehouse closed first (a token expiry, a slow consumer, a restart): the IDE may answer any close with 1000,
 * and those are exactly the closes it resumes after. A dropped socket (1006), 1001 (a page going away, perhaps to
 * come back) or no code at all (1005) keep the session resumable.
 */
function endedByIde(registry: SessionRegistry, conn: Connection, code: number): boolean {
  return code === CloseCode.NORMAL && conn.closeCodeSent === undefined && !registry.shuttingDown;
}

/** The longest a Node timer waits (about 24.8 days); a longer delay fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** At the token's exp: TOKEN_EXPIRED, then close 4401 (reconnect with a new token and resume). */
export function armTokenExpiry(registry: SessionRegistry, session: LiveSession, conn: Connection, exp: number): void {
  const remaining = exp * 1000 - Date.now();
  conn.tokenTimer = setTimeout(
    () => {
      // A token valid for longer than one timer can wait: wait again (it was closed as expired after 24.8 days).
      if (remaining > MAX_TIMER_MS) return armTokenExpiry(registry, session, conn, exp);
      if (conn.ws.readyState !== WebSocket.OPEN) return;
      registry.sendError(session, "TOKEN_EXPIRED", "JWT token has expired", {}, false, conn);
      conn.closeCodeSent ??= CloseCode.TOKEN_EXPIRED;
      conn.ws.close(CloseCode.TOKEN_EXPIRED, "token expired; reconnect with a new token and resume");
    },
    Math.min(Math.max(0, remaining), MAX_TIMER_MS),
  );
}

/** Ping every interval; a socket that did not answer the previous ping is terminated. */
export function startHeartbeat(registry: SessionRegistry, intervalMs: number): NodeJS.Timeout {
  const heartbeat = setInterval(() => {
    for (const session of registry.all()) {
      const conn = session.conn;
      if (!conn) continue;
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, intervalMs);
  heartbeat.unref();
  return heartbeat;
}
