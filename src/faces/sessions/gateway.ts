// The agent sessions face: IDEs connect to ws://…/ws/{session_id}; Gatehouse authenticates before the 101,
// numbers every frame it sends (seq) so a dropped IDE can resume, validates every frame both ways against
// spec/sessions.asyncapi.yaml, puts every tool_call through the tool policy and relays to the agent runtime
// over one full-duplex socket per session.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import WebSocket, { WebSocketServer, type RawData } from "ws";
import { UserTokenError, type UserClaims } from "../../core/identity/user-tokens";
import { logger } from "../../core/log/logger";
import { CloseCode } from "./close-codes";
import { sessionMetrics as metrics } from "./metrics";
import { RuntimeLink, probeRuntime } from "./runtime-link";
import { loadMessageValidators, type FrameRoute, type MessageValidators } from "./schemas";
import { createRedisSessionStore } from "./redis-session-store";
import { createMemorySessionStore, type SessionRecord, type SessionStore } from "./session-store";
import {
  ALWAYS_APPROVE_TOOLS,
  referenceToolPolicy,
  type ToolApprovals,
  type ToolPolicy,
  type ToolPolicyContext,
  type ToolPolicyDecision,
  type ToolOutcome,
  type ToolOutcomeRecorder,
  type ToolRelease,
} from "./tool-policy";
import { SUBPROTOCOL, UpgradeRefusal, bearerToken, refuseUpgrade, requestedLastSeq } from "./upgrade";

const log = logger.child({ module: "sessions" });

export interface SessionGatewayOptions {
  /** Heartbeat: ping every interval, terminate a socket that missed the previous pong. */
  pingIntervalMs: number;
  /** Largest accepted IDE frame; bigger → close 1009. */
  maxPayloadBytes: number;
  /** Bytes queued on one socket before it counts as a slow consumer (close 1013). */
  maxBufferedBytes: number;
  /** Replay buffer per session. */
  replayWindowMs: number;
  replayMaxFrames: number;
  /** A session without a socket for this long is dropped (its runtime link closed). */
  sessionTtlMs: number;
  connectionsPerIpPerMinute: number;
  messagesPerSessionPerMinute: number;
  runtimeConnectTimeoutMs: number;
  /** Prefix of the rate limiters' Redis keys (several gateways sharing one Redis use the same prefix). */
  redisKeyPrefix: string;
}

export const DEFAULT_SESSION_OPTIONS: SessionGatewayOptions = {
  pingIntervalMs: 30_000,
  maxPayloadBytes: 1024 * 1024,
  maxBufferedBytes: 4 * 1024 * 1024,
  replayWindowMs: 2 * 60_000,
  replayMaxFrames: 1000,
  sessionTtlMs: 30 * 60_000,
  connectionsPerIpPerMinute: 10,
  messagesPerSessionPerMinute: 100,
  runtimeConnectTimeoutMs: 5_000,
  redisKeyPrefix: "gatehouse",
};

export interface SessionGatewayDeps {
  /** From createUserTokenVerifier (src/core/identity/user-tokens.ts). */
  verifyUserToken: (token: string) => Promise<UserClaims>;
  /** AGENT_RUNTIME_URL, e.g. http://127.0.0.1:8001. */
  agentRuntimeUrl: string;
  /** AGENT_RUNTIME_KEY: sent to the runtime as a bearer token when set. */
  agentRuntimeKey?: string;
  /** The policy engine's seam; without it, the reference always-approve list. */
  toolPolicy?: ToolPolicy;
  /**
   * The approvals store behind ESCALATE (./governed-tools.ts). With it, a call that carries an approval_id is
   * released to the runtime only once that approval is decided — by the IDE's hitl_decision or by an operator
   * over REST — and re-checked by the policy. Without it, the IDE's decision goes straight to the runtime.
   */
  approvals?: ToolApprovals;
  /** Audits the IDE's tool_result as the outcome of the governed call it answers (./governed-tools.ts). */
  recordOutcome?: ToolOutcomeRecorder;
  /** REDIS_URL client: rate limits and sessions (unless `store` is given) shared across nodes; health PINGs it. */
  redis?: Redis;
  store?: SessionStore;
  validators?: MessageValidators;
  options?: Partial<SessionGatewayOptions>;
}

export interface SessionGatewayHealth {
  agent_runtime: "available" | "unavailable";
  redis: "connected" | "disconnected" | "not_configured";
}

export interface SessionGateway {
  /** SIGTERM path: refuse new upgrades, close every socket with 1012 (resume hint), drop runtime links. */
  close(): Promise<void>;
  health(): Promise<SessionGatewayHealth>;
}

const SESSION_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const WS_PATH = /^\/ws\/([^/]+)$/;
/** Frames the IDE sends that go on to the runtime (resume is answered by Gatehouse itself). */
const FORWARDED = new Set(["user_message", "tool_result", "hitl_decision", "switch_agent", "cancel"]);

interface PendingCall {
  toolName: string;
  ctx: ToolPolicyContext;
  approvalId?: string;
  awaitingApproval: boolean;
  /** Watches the approval store while an approval is pending (aborted on an IDE edit or session end). */
  watcher?: AbortController;
  /** The IDE's own approve/reject of this call, so it is not told what it just decided. */
  ideDecision?: { decision: "approve" | "reject"; messageId: string; feedback?: string };
}

interface Connection {
  ws: WebSocket;
  /** The seq the first live frame on this socket got: an in-band resume replays only what came before. */
  firstLiveSeq: number;
  alive: boolean;
  tokenTimer?: NodeJS.Timeout;
  /** IDE frames are handled one after another, in arrival order; none of them waits for a reply. */
  inbound: Promise<void>;
}

interface LiveSession {
  record: SessionRecord;
  conn?: Connection;
  link?: RuntimeLink;
  linking?: Promise<RuntimeLink>;
  pendingCalls: Map<string, PendingCall>;
  /** The runtime's current agent, from its last agent_switched (picks the manifest for tool calls). */
  agent?: string;
  /** Runtime frames are handled in order (a tool_call's policy check must not let later tokens overtake it). */
  runtimeQueue: Promise<void>;
  expiryTimer?: NodeJS.Timeout;
}

type ErrorExtras = { details?: Record<string, unknown>; retry_after?: number };

export function attachSessionGateway(server: Server, deps: SessionGatewayDeps): SessionGateway {
  const opts: SessionGatewayOptions = { ...DEFAULT_SESSION_OPTIONS, ...deps.options };
  const replayWindow = { maxAgeMs: opts.replayWindowMs, maxFrames: opts.replayMaxFrames };
  const store =
    deps.store ??
    (deps.redis
      ? createRedisSessionStore({ redis: deps.redis, keyPrefix: opts.redisKeyPrefix, ttlMs: opts.sessionTtlMs + opts.replayWindowMs, ...replayWindow })
      : createMemorySessionStore(replayWindow));
  const validatorsReady = deps.validators ? Promise.resolve(deps.validators) : loadMessageValidators();
  validatorsReady.catch((err) => log.error({ err }, "cannot load session message schemas"));
  const toolPolicy = deps.toolPolicy ?? referenceToolPolicy;
  const { ipLimiter, messageLimiter } = createLimiters(opts, deps.redis);
  const sessions = new Map<string, LiveSession>();
  let shuttingDown = false;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes,
    // Echo our subprotocol, never the bearer.<jwt> entry.
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  // ---------------------------------------------------------------- upgrade (everything before the 101)

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? "/", "http://gatehouse").pathname;
    const match = WS_PATH.exec(path);
    if (!match) {
      // Another face may own this upgrade; answer 404 only when nobody else listens.
      if (server.listenerCount("upgrade") <= 1) refuseUpgrade(socket, new UpgradeRefusal(404, "NOT_FOUND", `No WebSocket endpoint at ${path}`));
      return;
    }
    socket.on("error", (err) => log.debug({ err }, "upgrade socket error"));
    authorizeUpgrade(req, match[1]).then(
      (ctx) => {
        if (socket.destroyed) return;
        // Claimed synchronously right before the 101: two users racing for a new id cannot both get it.
        if (!claimSession(ctx.sessionId, ctx.claims)) {
          metrics.upgrades.inc({ result: "403" });
          refuseUpgrade(socket, new UpgradeRefusal(403, "FORBIDDEN", "This session belongs to another user"));
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, ctx));
        metrics.upgrades.inc({ result: "accepted" });
      },
      (err: unknown) => {
        const refusal =
          err instanceof UpgradeRefusal ? err : new UpgradeRefusal(500, "INTERNAL_ERROR", "Internal error during upgrade");
        if (!(err instanceof UpgradeRefusal)) log.error({ err }, "upgrade failed");
        metrics.upgrades.inc({ result: String(refusal.status) });
        refuseUpgrade(socket, refusal);
      },
    );
  };
  server.on("upgrade", onUpgrade);

  interface UpgradeContext {
    sessionId: string;
    claims: UserClaims;
    lastSeq?: number;
  }

  async function authorizeUpgrade(req: IncomingMessage, rawId: string): Promise<UpgradeContext> {
    if (shuttingDown) {
      throw new UpgradeRefusal(503, "SHUTTING_DOWN", "Gatehouse is restarting; reconnect and resume", { "Retry-After": "5" });
    }
    let sessionId: string;
    try {
      sessionId = decodeURIComponent(rawId);
    } catch {
      throw new UpgradeRefusal(400, "INVALID_MESSAGE", "Malformed session id");
    }
    if (!SESSION_ID.test(sessionId)) {
      throw new UpgradeRefusal(400, "INVALID_MESSAGE", "session_id must be 1-128 characters of [A-Za-z0-9._:-]");
    }
    await consumeOrRefuse(ipLimiter, req.socket.remoteAddress ?? "unknown");

    let claims: UserClaims;
    try {
      claims = await deps.verifyUserToken(bearerToken(req));
    } catch (err) {
      throw authRefusal(err);
    }
    const lastSeq = requestedLastSeq(req);
    await validatorsReady;
    if (!sessions.has(sessionId)) await store.hydrate?.(sessionId);

    const owner = sessions.get(sessionId)?.record.ownerSub ?? store.get(sessionId)?.ownerSub;
    if (owner !== undefined && owner !== claims.sub) {
      metrics.authFailures.inc({ reason: "session_owner_mismatch" });
      throw new UpgradeRefusal(403, "FORBIDDEN", "This session belongs to another user");
    }
    return { sessionId, claims, lastSeq };
  }

  function authRefusal(err: unknown): UpgradeRefusal {
    if (err instanceof UpgradeRefusal) {
      metrics.authFailures.inc({ reason: "missing_token" });
      return err;
    }
    if (err instanceof UserTokenError) {
      metrics.authFailures.inc({ reason: err.reason });
      if (err.reason === "jwks_unavailable") {
        return new UpgradeRefusal(503, "UNAUTHORIZED", "Cannot verify tokens right now (identity provider unreachable)", {
          "Retry-After": "30",
        });
      }
      return new UpgradeRefusal(401, err.code, err.code === "TOKEN_EXPIRED" ? "JWT token has expired" : err.message);
    }
    metrics.authFailures.inc({ reason: "verifier_error" });
    log.error({ err }, "token verifier failed");
    return new UpgradeRefusal(401, "TOKEN_INVALID", "Invalid JWT token");
  }

  async function consumeOrRefuse(limiter: RateLimiterAbstract, key: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw new UpgradeRefusal(429, "RATE_LIMIT_EXCEEDED", "Too many requests. Please slow down.", {
        "Retry-After": String(retryAfter),
      });
    }
  }

  function claimSession(sessionId: string, claims: UserClaims): LiveSession | undefined {
    let live = sessions.get(sessionId);
    if (live && live.record.ownerSub !== claims.sub) return undefined;
    if (!live) {
      const record = store.get(sessionId) ?? store.create(sessionId, { sub: claims.sub, orgId: claims.orgId });
      live = { record, pendingCalls: new Map(), runtimeQueue: Promise.resolve() };
      sessions.set(sessionId, live);
      metrics.sessions.set(sessions.size);
    }
    if (claims.orgId) live.record.orgId = claims.orgId;
    clearTimeout(live.expiryTimer);
    return live;
  }

  // ---------------------------------------------------------------- connection lifecycle

  function onConnection(ws: WebSocket, ctx: UpgradeContext) {
    const session = sessions.get(ctx.sessionId)!;
    const previous = session.conn;
    if (previous) previous.ws.close(CloseCode.REPLACED, "session opened on another socket");

    const conn: Connection = { ws, firstLiveSeq: session.record.nextSeq, alive: true, inbound: Promise.resolve() };
    session.conn = conn;
    metrics.activeConnections.inc();
    log.info({ sessionId: ctx.sessionId, sub: ctx.claims.sub }, "IDE connected");

    ws.on("pong", () => {
      conn.alive = true;
    });
    ws.on("message", (data, isBinary) => {
      const receivedAt = performance.now();
      conn.inbound = conn.inbound
        .then(() => handleIdeFrame(session, conn, data, isBinary, receivedAt))
        .catch((err) => {
          log.error({ err, sessionId: ctx.sessionId }, "IDE frame handling failed");
          if (sessions.get(session.record.id) === session) sendError(session, "INTERNAL_ERROR", "Internal error", {}, false, conn);
        });
    });
    // When `ws` closes a socket itself (a frame above maxPayload → 1009), its local close event reports 1006:
    // remember the code the IDE was sent, so the metric counts what clients saw.
    let closeCodeSent: number | undefined;
    ws.on("error", (err: Error & { code?: string }) => {
      if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") closeCodeSent = CloseCode.MESSAGE_TOO_BIG;
      log.debug({ err, sessionId: ctx.sessionId }, "IDE socket error");
    });
    ws.on("close", (code) => {
      metrics.activeConnections.dec();
      metrics.closes.inc({ code: String(closeCodeSent ?? code) });
      clearTimeout(conn.tokenTimer);
      if (session.conn === conn) {
        session.conn = undefined;
        scheduleExpiry(session);
      }
    });

    armTokenExpiry(session, conn, ctx.claims.exp);

    // A resume point in the handshake: replay before any live frame, so the IDE sees one ordered stream.
    if (ctx.lastSeq !== undefined) resume(session, conn, ctx.lastSeq, session.record.nextSeq);
  }

  function armTokenExpiry(session: LiveSession, conn: Connection, exp: number) {
    const delay = Math.min(Math.max(0, exp * 1000 - Date.now()), 2 ** 31 - 1);
    conn.tokenTimer = setTimeout(() => {
      if (conn.ws.readyState !== WebSocket.OPEN) return;
      sendError(session, "TOKEN_EXPIRED", "JWT token has expired", {}, false, conn);
      conn.ws.close(CloseCode.TOKEN_EXPIRED, "token expired; reconnect with a new token and resume");
    }, delay);
  }

  function scheduleExpiry(session: LiveSession) {
    clearTimeout(session.expiryTimer);
    session.expiryTimer = setTimeout(() => {
      if (session.conn) return;
      // The IDE is gone for good: stop the runtime's work and forget the session.
      session.link?.close();
      stopWatching(session);
      sessions.delete(session.record.id);
      store.delete(session.record.id);
      metrics.sessions.set(sessions.size);
    }, opts.sessionTtlMs);
    session.expiryTimer.unref();
  }

  function resume(session: LiveSession, conn: Connection, lastSeq: number, beforeSeq: number) {
    const id = session.record.id;
    if (session.record.nextSeq === 1 && lastSeq > 0) {
      // Nothing of this session is known here: it expired or never existed on this node.
      const expiredAt = store.expiredAt(id);
      if (expiredAt) {
        sendError(session, "SESSION_EXPIRED", "Session has expired. Please reconnect.", {
          details: { session_id: id, expired_at: expiredAt.toISOString() },
        }, false);
      } else {
        sendError(session, "SESSION_NOT_FOUND", "Session not found", { details: { session_id: id } }, false);
      }
      return;
    }
    const result = store.replay(id, lastSeq, beforeSeq);
    if (!result.ok) {
      emit(session, {
        type: "resync_required",
        session_id: id,
        last_seq: lastSeq,
        ...(result.oldestSeq !== undefined ? { oldest_seq: result.oldestSeq } : {}),
        message: `Frames after seq ${lastSeq} are no longer available; reload the session state.`,
      }, false);
      return;
    }
    for (const frame of result.frames) deliver(conn, frame.data);
    emit(session, { type: "session_resumed", session_id: id, last_seq: lastSeq, replayed: result.frames.length }, false);
  }

  // ---------------------------------------------------------------- Gatehouse → IDE

  /** Numbers, buffers and (if a socket is attached) sends a frame. Replayable frames survive a dropped socket. */
  function emit(session: LiveSession, frame: Record<string, unknown>, replayable = true, only?: Connection) {
    if (sessions.get(session.record.id) !== session) return; // expired meanwhile: nobody can resume it
    const stored = store.append(session.record.id, frame, replayable);
    metrics.messages.inc({ direction: "gateway_to_ide", type: String(frame.type) });
    const conn = session.conn;
    if (conn && (!only || only === conn)) deliver(conn, stored.data);
  }

  function deliver(conn: Connection, data: string) {
    const ws = conn.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > opts.maxBufferedBytes) {
      // Slow consumer: stop queueing. Everything stays in the replay buffer, so it can resume.
      ws.close(CloseCode.TRY_AGAIN_LATER, "slow consumer; reconnect and resume");
      setTimeout(() => ws.terminate(), 5_000).unref();
      return;
    }
    ws.send(data);
  }

  /** The canonical error frame: `message` and `content` carry the same text (the seed uses both). */
  function sendError(
    session: LiveSession,
    code: string,
    text: string,
    extras: ErrorExtras = {},
    replayable = true,
    only?: Connection,
  ) {
    emit(session, { type: "error", error_code: code, message: text, content: text, ...extras }, replayable, only);
  }

  // ---------------------------------------------------------------- IDE → Gatehouse → runtime

  async function handleIdeFrame(session: LiveSession, conn: Connection, data: RawData, isBinary: boolean, receivedAt: number) {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    try {
      await messageLimiter.consume(session.record.id);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      metrics.messagesProcessed.inc({ status: "rate_limited" });
      sendError(session, "RATE_LIMIT_EXCEEDED", "Too many requests. Please slow down.", {
        retry_after: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
      }, false, conn);
      return;
    }

    const validators = await validatorsReady;
    const parsed = parseFrame(validators, "ide_in", data, isBinary);
    if (!parsed.ok) {
      metrics.invalidFrames.inc({ source: "ide" });
      metrics.messagesProcessed.inc({ status: "invalid" });
      const summary = parsed.errors.map((e) => `${e.pointer} ${e.message}`).join("; ");
      sendError(session, "INVALID_MESSAGE", `Invalid message: ${summary}`, { details: { errors: parsed.errors } }, false, conn);
      return;
    }
    const frame = parsed.frame;
    metrics.messages.inc({ direction: "ide_to_gateway", type: frame.type });

    if (frame.type === "resume") {
      resume(session, conn, frame.last_seq as number, conn.firstLiveSeq);
      metrics.messagesProcessed.inc({ status: "success" });
      return;
    }
    if (!FORWARDED.has(frame.type)) return;

    const callError = checkCallId(session, frame);
    if (callError) {
      metrics.messagesProcessed.inc({ status: "invalid" });
      sendError(session, "INVALID_CALL_ID", callError, { details: { call_id: frame.call_id } }, false, conn);
      return;
    }

    const messageId = typeof frame.message_id === "string" ? frame.message_id : randomUUID();
    const outbound: Record<string, unknown> = { ...frame, message_id: messageId };
    if (frame.type === "hitl_decision") {
      const pending = session.pendingCalls.get(frame.call_id as string)!;
      if (pending.approvalId && deps.approvals) {
        // Governed: the decision goes to the approvals store; the runtime hears it once the policy released it.
        metrics.messagesProcessed.inc({ status: "success" });
        emit(session, { type: "ack", message_id: messageId, ack_type: frame.type });
        await decideGoverned(session, frame.call_id as string, pending, frame, messageId);
        return;
      }
      noteHitlDecision(session, outbound);
    }
    if (frame.type === "tool_result") {
      const answered = session.pendingCalls.get(frame.call_id as string)!;
      session.pendingCalls.delete(frame.call_id as string);
      // The IDE ran the call: its tool_result is the call's audited outcome (the recorder never throws).
      const error = frame.error as ToolOutcome["error"] | undefined;
      const result = frame.result !== undefined ? { result: frame.result } : {};
      void deps.recordOutcome?.(answered.ctx, { success: !error && frame.result !== undefined, ...result, ...(error ? { error } : {}) });
    }

    const link = await runtimeLink(session);
    if (!link?.send(outbound)) {
      metrics.messagesProcessed.inc({ status: "error" });
      sendError(session, "AGENT_UNAVAILABLE", "Agent runtime is unavailable", { details: { message_id: messageId } });
      return;
    }
    metrics.forwardLatency.observe({ direction: "gateway_to_runtime" }, (performance.now() - receivedAt) / 1000);
    metrics.messages.inc({ direction: "gateway_to_runtime", type: frame.type });
    metrics.messagesProcessed.inc({ status: "success" });
    emit(session, { type: "ack", message_id: messageId, ack_type: frame.type });
  }

  /** A decision or result must answer a tool_call Gatehouse actually passed to this IDE. */
  function checkCallId(session: LiveSession, frame: Record<string, unknown>): string | undefined {
    if (frame.type !== "hitl_decision" && frame.type !== "tool_result") return undefined;
    const pending = session.pendingCalls.get(frame.call_id as string);
    if (!pending) return `No pending tool call ${String(frame.call_id)}`;
    if (frame.type === "hitl_decision" && !pending.awaitingApproval) {
      return `Tool call ${String(frame.call_id)} is not waiting for approval`;
    }
    if (frame.type === "tool_result" && pending.awaitingApproval && pending.approvalId && deps.approvals) {
      return `Tool call ${String(frame.call_id)} is waiting for approval ${pending.approvalId}; its result cannot be sent yet`;
    }
    return undefined;
  }

  /** Reference mode (no approvals store): the IDE's decision goes straight to the runtime. */
  function noteHitlDecision(session: LiveSession, frame: Record<string, unknown>) {
    const callId = frame.call_id as string;
    const pending = session.pendingCalls.get(callId)!;
    pending.awaitingApproval = false;
    if (frame.decision === "reject") session.pendingCalls.delete(callId);
    if (pending.approvalId) frame.approval_id = pending.approvalId;
  }

  /** The IDE answers an escalated call: approve/reject are recorded on the approval, edit is re-checked. */
  async function decideGoverned(session: LiveSession, callId: string, pending: PendingCall, frame: Record<string, unknown>, messageId: string) {
    pending.awaitingApproval = false;
    const feedback = typeof frame.feedback === "string" ? frame.feedback : undefined;
    if (frame.decision === "edit") {
      // The original approval is closed by the edit: its watcher must not report that as a rejection.
      pending.watcher?.abort();
      const edited = (frame.modified_arguments as Record<string, unknown> | undefined) ?? pending.ctx.arguments;
      let release: ToolRelease;
      try {
        release = await deps.approvals!.edit(pending.ctx, pending.approvalId!, edited, feedback);
      } catch (err) {
        log.error({ err, callId }, "checking an edited tool call failed; rejecting it (fail closed)");
        release = { outcome: "rejected", approvalId: pending.approvalId, reason: "The edited call could not be checked", reasons: ["POLICY_ERROR"] };
      }
      await applyRelease(session, callId, pending, release, { decision: "edit", messageId, feedback });
      return;
    }
    const decision = frame.decision as "approve" | "reject";
    pending.ideDecision = { decision, messageId, feedback };
    await deps.approvals!.decide(pending.ctx, pending.approvalId!, decision, feedback);
  }

  /** Follows an escalated call's approval in the store, whoever decides it (the IDE or an operator over REST). */
  function watchApproval(session: LiveSession, callId: string, pending: PendingCall) {
    const watcher = new AbortController();
    pending.watcher = watcher;
    const via = () => ({ decision: "approve" as const, messageId: pending.ideDecision?.messageId, feedback: pending.ideDecision?.feedback });
    deps.approvals!.settled(pending.ctx, pending.approvalId!, watcher.signal).then(
      (release) => (watcher.signal.aborted ? undefined : applyRelease(session, callId, pending, release, via())),
      (err: unknown) => {
        if (watcher.signal.aborted) return;
        log.error({ err, callId }, "following the approval failed; rejecting the call (fail closed)");
        const release: ToolRelease = { outcome: "rejected", approvalId: pending.approvalId, reason: "The approval could not be checked", reasons: ["POLICY_ERROR"] };
        return applyRelease(session, callId, pending, release, via());
      },
    ).catch((err) => log.error({ err, callId }, "releasing a tool call failed"));
  }

  /** The end of an escalated call: runnable (IDE told unless it decided, runtime gets the decision) or never. */
  async function applyRelease(
    session: LiveSession,
    callId: string,
    pending: PendingCall,
    release: ToolRelease,
    via: { decision: "approve" | "edit"; messageId?: string; feedback?: string },
  ) {
    if (session.pendingCalls.get(callId) !== pending || sessions.get(session.record.id) !== session) return;
    const toolName = pending.toolName;
    const messageId = via.messageId ?? randomUUID();
    if (release.outcome === "escalated") {
      pending.approvalId = release.approvalId;
      pending.awaitingApproval = true;
      pending.ideDecision = undefined;
      emit(session, { type: "tool_call", call_id: callId, tool_name: toolName, arguments: pending.ctx.arguments, requires_approval: true, approval_id: release.approvalId });
      watchApproval(session, callId, pending);
      return;
    }
    if (release.outcome === "rejected") {
      session.pendingCalls.delete(callId);
      metrics.toolDecisions.inc({ decision: "REJECTED" });
      if (pending.ideDecision?.decision !== "reject") {
        sendError(session, "TOOL_DENIED", `Tool ${toolName} was not approved: ${release.reason}`, {
          details: {
            call_id: callId,
            tool_name: toolName,
            reasons: release.reasons,
            ...(release.approvalId ? { approval_id: release.approvalId } : {}),
            ...(release.decidedBy ? { decided_by: release.decidedBy } : {}),
          },
        });
      }
      await sendToRuntime(session, {
        type: "hitl_decision",
        call_id: callId,
        decision: "reject",
        feedback: pending.ideDecision?.feedback ?? release.reason,
        message_id: messageId,
        ...(release.approvalId ? { approval_id: release.approvalId } : {}),
      });
      return;
    }
    pending.awaitingApproval = false;
    if (release.approvalId) pending.approvalId = release.approvalId;
    metrics.toolDecisions.inc({ decision: "RELEASED" });
    if (pending.ideDecision?.decision !== "approve") {
      // Approved elsewhere (an operator) or edited: this is the call the IDE may run now.
      emit(session, {
        type: "tool_call",
        call_id: callId,
        tool_name: toolName,
        arguments: release.arguments,
        requires_approval: false,
        ...(pending.approvalId ? { approval_id: pending.approvalId } : {}),
      });
    }
    await sendToRuntime(session, {
      type: "hitl_decision",
      call_id: callId,
      decision: via.decision,
      message_id: messageId,
      ...(via.decision === "edit" ? { modified_arguments: release.arguments } : {}),
      ...(via.feedback ? { feedback: via.feedback } : {}),
      ...(pending.approvalId ? { approval_id: pending.approvalId } : {}),
    });
  }

  async function sendToRuntime(session: LiveSession, frame: Record<string, unknown>) {
    const link = await runtimeLink(session);
    if (!link?.send(frame)) {
      sendError(session, "AGENT_UNAVAILABLE", "Agent runtime is unavailable", { details: { call_id: frame.call_id } });
      return;
    }
    metrics.messages.inc({ direction: "gateway_to_runtime", type: String(frame.type) });
  }

  /** The session is gone: nobody follows its approvals any more (they stay in the store for operators). */
  function stopWatching(session: LiveSession) {
    for (const pending of session.pendingCalls.values()) pending.watcher?.abort();
  }

  async function runtimeLink(session: LiveSession): Promise<RuntimeLink | undefined> {
    if (session.link?.open) return session.link;
    if (!session.linking) {
      const link = new RuntimeLink({
        runtimeUrl: deps.agentRuntimeUrl,
        apiKey: deps.agentRuntimeKey,
        sessionId: session.record.id,
        sub: session.record.ownerSub,
        orgId: session.record.orgId,
        connectTimeoutMs: opts.runtimeConnectTimeoutMs,
        onFrame: (data, receivedAt) => {
          session.runtimeQueue = session.runtimeQueue
            .then(() => handleRuntimeFrame(session, link, data, receivedAt))
            .catch((err) => log.error({ err, sessionId: session.record.id }, "runtime frame handling failed"));
        },
        onLost: (reason) => {
          log.warn({ sessionId: session.record.id, reason }, "runtime link lost");
          if (session.link === link) session.link = undefined;
          if (sessions.get(session.record.id) === session && !shuttingDown) {
            sendError(session, "AGENT_UNAVAILABLE", "Agent runtime connection lost");
          }
        },
      });
      session.linking = link.connect().then(
        () => {
          session.link = link;
          return link;
        },
        (err) => {
          log.warn({ err, sessionId: session.record.id }, "cannot reach the agent runtime");
          throw err;
        },
      ).finally(() => {
        session.linking = undefined;
      });
    }
    try {
      return await session.linking;
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------- runtime → Gatehouse → IDE

  async function handleRuntimeFrame(session: LiveSession, link: RuntimeLink, data: string, receivedAt: number) {
    const validators = await validatorsReady;
    const parsed = parseFrame(validators, "runtime_in", data, false);
    if (!parsed.ok) {
      metrics.invalidFrames.inc({ source: "runtime" });
      metrics.messagesProcessed.inc({ status: "dropped" });
      log.warn({ sessionId: session.record.id, errors: parsed.errors }, "dropped an invalid runtime frame");
      return;
    }
    const { seq: _ignored, ...frame } = parsed.frame; // Gatehouse numbers frames itself
    metrics.messages.inc({ direction: "runtime_to_gateway", type: frame.type as string });

    if (frame.type === "tool_call") {
      await relayToolCall(session, link, frame);
    } else if (frame.type === "error") {
      const text = (frame.message ?? frame.content) as string;
      emit(session, { ...frame, message: text, content: text });
    } else {
      if (frame.type === "agent_switched" && typeof frame.agent === "string") session.agent = frame.agent;
      emit(session, frame);
    }
    metrics.forwardLatency.observe({ direction: "gateway_to_ide" }, (performance.now() - receivedAt) / 1000);
    metrics.messagesProcessed.inc({ status: "success" });
  }

  async function relayToolCall(session: LiveSession, link: RuntimeLink, frame: Record<string, unknown>) {
    const callId = frame.call_id as string;
    const toolName = frame.tool_name as string;
    const ctx: ToolPolicyContext = {
      sub: session.record.ownerSub,
      orgId: session.record.orgId,
      sessionId: session.record.id,
      callId,
      toolName,
      arguments: frame.arguments as Record<string, unknown>,
      ...(session.agent ? { agent: session.agent } : {}),
    };
    let verdict: ToolPolicyDecision;
    try {
      verdict = await toolPolicy(ctx);
    } catch (err) {
      log.error({ err, callId, toolName }, "tool policy failed; denying (fail closed)");
      verdict = { decision: "DENY", reasons: ["POLICY_ERROR"] };
    }
    metrics.toolDecisions.inc({ decision: verdict.decision });

    if (verdict.decision === "DENY") {
      const text = `Tool ${toolName} was denied by policy${verdict.detail ? `: ${verdict.detail}` : ""}`;
      sendError(session, "TOOL_DENIED", text, { details: { call_id: callId, tool_name: toolName, reasons: verdict.reasons } });
      link.send({ type: "tool_result", call_id: callId, error: { code: "TOOL_DENIED", message: text } });
      metrics.messages.inc({ direction: "gateway_to_runtime", type: "tool_result" });
      return;
    }
    // The runtime's requires_approval can only add a requirement; policy and the fixed list decide the rest.
    const requiresApproval =
      verdict.decision === "ESCALATE" || ALWAYS_APPROVE_TOOLS.has(toolName) || frame.requires_approval === true;
    const pending: PendingCall = { toolName, ctx, approvalId: verdict.approvalId, awaitingApproval: requiresApproval };
    session.pendingCalls.set(callId, pending);
    emit(session, {
      ...frame,
      requires_approval: requiresApproval,
      ...(verdict.approvalId ? { approval_id: verdict.approvalId } : {}),
    });
    if (verdict.approvalId && deps.approvals) watchApproval(session, callId, pending);
  }

  // ---------------------------------------------------------------- liveness, health, shutdown

  const heartbeat = setInterval(() => {
    for (const session of sessions.values()) {
      const conn = session.conn;
      if (!conn) continue;
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, opts.pingIntervalMs);
  heartbeat.unref();

  return {
    async health() {
      const [runtimeUp, redis] = await Promise.all([probeRuntime(deps.agentRuntimeUrl), redisState(deps.redis)]);
      return { agent_runtime: runtimeUp ? "available" : "unavailable", redis };
    },
    async close() {
      shuttingDown = true;
      clearInterval(heartbeat);
      const closing: Promise<void>[] = [];
      for (const session of sessions.values()) {
        clearTimeout(session.expiryTimer);
        stopWatching(session);
        session.link?.close();
        const ws = session.conn?.ws;
        if (!ws || ws.readyState === WebSocket.CLOSED) continue;
        closing.push(
          new Promise<void>((resolve) => {
            ws.once("close", () => resolve());
            ws.close(CloseCode.SERVICE_RESTART, "restarting; reconnect and resume with your last seq");
            setTimeout(() => {
              ws.terminate();
              resolve();
            }, 2_000).unref();
          }),
        );
      }
      await Promise.all(closing);
      // The upgrade listener stays: until the HTTP server itself closes, new upgrades get 503 + Retry-After.
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function parseFrame(validators: MessageValidators, route: FrameRoute, data: RawData | string, isBinary: boolean) {
  if (isBinary) return { ok: false as const, errors: [{ pointer: "/", message: "binary frames are not accepted; send JSON text" }] };
  let value: unknown;
  try {
    value = JSON.parse(typeof data === "string" ? data : rawToString(data));
  } catch {
    return { ok: false as const, errors: [{ pointer: "/", message: "not valid JSON" }] };
  }
  return validators.validate(route, value);
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  return Buffer.from(data).toString("utf8");
}

function createLimiters(opts: SessionGatewayOptions, redis?: Redis) {
  const make = (keyPrefix: string, points: number): RateLimiterAbstract => {
    const memory = new RateLimiterMemory({ keyPrefix, points, duration: 60 });
    if (!redis) return memory;
    // Shared across nodes; if Redis fails, each node falls back to its own counters.
    return new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration: 60, insuranceLimiter: memory });
  };
  return {
    // Not under `:ws:session:` — that is the session store's namespace (redis-session-store.ts).
    ipLimiter: make(`${opts.redisKeyPrefix}:ws:limit:ip`, opts.connectionsPerIpPerMinute),
    messageLimiter: make(`${opts.redisKeyPrefix}:ws:limit:messages`, opts.messagesPerSessionPerMinute),
  };
}

async function redisState(redis?: Redis): Promise<SessionGatewayHealth["redis"]> {
  if (!redis) return "not_configured";
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), 1000).unref()),
    ]);
    return pong === "PONG" ? "connected" : "disconnected";
  } catch {
    return "disconnected";
  }
}
