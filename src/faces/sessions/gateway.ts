// The agent sessions face: IDEs connect to ws://…/ws/{session_id}; Gatehouse authenticates before the 101,
// numbers every frame it sends (seq) so a dropped IDE can resume, validates every frame both ways against
// spec/sessions.asyncapi.yaml, puts every tool_call through the tool policy and relays to the agent runtime
// over one full-duplex socket per session.
//
// This file only wires the parts together:
//   upgrade-handler.ts  everything before the 101          ide-connection.ts  one IDE socket after it
//   session-state.ts    sessions, seq, replay, expiry       ide-inbound.ts     IDE frames, by type
//   tool-calls.ts       a tool call from policy to result   runtime-inbound.ts runtime frames, by type
//   runtime-links.ts    one runtime socket per session      frames.ts          generated frame types, dispatch
//   cluster.ts          nodes, link holders, inboxes        cross-node.ts      IDE frames for a link elsewhere
//   node-approvals.ts   approvals of a node that died
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { Redis } from "ioredis";
import { WebSocketServer } from "ws";
import { logger } from "../../core/log/logger";
import { CloseCode } from "./close-codes";
import { NODE_REFRESH_MS, SessionCluster } from "./cluster";
import { createForwardedFrameHandler, routeElsewhere, startUpkeep, stillHolding } from "./cross-node";
import { acceptConnection, startHeartbeat } from "./ide-connection";
import { handleIdeFrame, type IdeInboundDeps } from "./ide-inbound";
import { createMemoryLiveSessionCap, createRedisLiveSessionCap } from "./live-session-cap";
import { NODE_GONE_REASON, NodeApprovals, trackedByNode } from "./node-approvals";
import {
  DEFAULT_SESSION_OPTIONS,
  type LiveSessionPick,
  type LiveSessionSummary,
  type SessionGateway,
  type SessionGatewayDeps,
  type SessionGatewayHealth,
  type SessionGatewayOptions,
} from "./options";
import { createLimiters } from "./rate-limits";
import { createRedisSessionStore } from "./redis-session-store";
import { handleRuntimeFrame } from "./runtime-inbound";
import { probeRuntime } from "./runtime-link";
import { RuntimeLinks } from "./runtime-links";
import { loadMessageValidators } from "./schemas";
import { clientSessionId } from "./session-key";
import { type LiveSession, SessionRegistry } from "./session-state";
import { createMemorySessionStore, type SessionStore } from "./session-store";
import { ToolCalls } from "./tool-calls";
import { referenceToolPolicy, type ToolPolicyContext } from "./tool-policy";
import { traceSession } from "./tracing";
import { SUBPROTOCOL } from "./upgrade";
import { createUpgradeHandler } from "./upgrade-handler";

export {
  DEFAULT_SESSION_OPTIONS,
  type SessionGateway,
  type SessionGatewayDeps,
  type SessionGatewayHealth,
  type SessionGatewayOptions,
} from "./options";

const log = logger.child({ module: "sessions" });

export function attachSessionGateway(server: Server, deps: SessionGatewayDeps): SessionGateway {
  const opts: SessionGatewayOptions = { ...DEFAULT_SESSION_OPTIONS, ...deps.options };
  const validators = deps.validators ? Promise.resolve(deps.validators) : loadMessageValidators();
  validators.catch((err) => log.error({ err }, "cannot load session message schemas"));
  const { ipLimiter, anonymousLimiter, messageLimiter } = createLimiters(opts, deps.redis);
  const nodeId = randomUUID();
  const liveSessions = deps.redis
    ? createRedisLiveSessionCap({
        redis: deps.redis,
        keyPrefix: opts.redisKeyPrefix,
        maxSessionsPerUser: opts.maxSessionsPerUser,
        leaseMs: opts.liveSlotLeaseMs,
      })
    : createMemoryLiveSessionCap(opts.maxSessionsPerUser);
  // Several nodes on one Redis (the sessions' own store): a session's IDE and its runtime link may be on two nodes.
  const cluster = deps.redis && !deps.store ? new SessionCluster(deps.redis, opts.redisKeyPrefix, nodeId) : undefined;
  const { sweepApprovals, tracking, governed } = governedByNode(deps, cluster, opts, nodeId, (ctx, keep) =>
    stillHolding(cluster!, registry, keep, ctx),
  );
  const registry = new SessionRegistry(deps.store ?? defaultStore(opts, nodeId, deps.redis), {
    ...opts,
    ...(governed.approvals ? { approvals: governed.approvals } : {}),
  });

  const runtime = new RuntimeLinks({
    registry,
    agentRuntimeUrl: deps.agentRuntimeUrl,
    agentRuntimeKey: deps.agentRuntimeKey,
    connectTimeoutMs: opts.runtimeConnectTimeoutMs,
    maxLinksPerUser: opts.maxSessionsPerUser,
    maxBacklogBytes: opts.maxBufferedBytes,
    maxBufferedBytes: opts.maxBufferedBytes,
    onFrame: (session, link, data, receivedAt): Promise<void> =>
      handleRuntimeFrame({ registry, validators, toolCalls }, session, link, data, receivedAt),
    ...(cluster
      ? {
          onLinked: (session: LiveSession) => cluster.holdLink(session.record.id),
          onUnlinked: (session: LiveSession) => void cluster.releaseLink(session.record.id),
        }
      : {}),
  });
  const toolCalls = new ToolCalls({
    registry,
    runtime,
    toolPolicy: governed.policy,
    approvals: governed.approvals,
    recordOutcome: deps.recordOutcome,
    maxPendingCalls: opts.maxPendingCallsPerSession,
  });
  const ideInbound: IdeInboundDeps = {
    registry,
    validators,
    messageLimiter,
    runtime,
    toolCalls,
    ...(cluster
      ? { elsewhere: (session, conn, frame) => routeElsewhere(cluster, registry, session, conn, frame) }
      : {}),
  };
  cluster?.onForwarded(createForwardedFrameHandler(ideInbound));
  // An IDE's close 1000 ends its session on every node: the node holding its runtime link closes it there.
  if (cluster) {
    registry.onEndedByIde = (sessionId) => cluster.ended(sessionId);
    cluster.onEndedElsewhere((sessionId) => registry.endedElsewhere(sessionId));
  }
  // One live socket per session across nodes too: a newer socket on another node replaces this node's (4409).
  // (Only an older one: two sockets accepted at the same moment on two nodes do not close each other.)
  const acceptedAt = new WeakMap<object, number>();
  cluster?.onAttachedElsewhere((sessionId, at) => {
    const conn = registry.get(sessionId)?.conn;
    if (!conn || conn.remote || (acceptedAt.get(conn) ?? 0) > at) return;
    conn.closeCodeSent ??= CloseCode.REPLACED;
    conn.ws.close(CloseCode.REPLACED, "session opened on another socket");
  });
  // Attached sessions are marked active well within the TTL (a quarter of it), so no node expires them meanwhile.
  const touchEveryMs = Math.min(Math.max(opts.sessionTtlMs / 4, 50), 30_000);
  const upkeep =
    cluster &&
    startUpkeep(cluster, registry, {
      intervalMs: Math.min(NODE_REFRESH_MS, touchEveryMs),
      touchEveryMs,
      ...(sweepApprovals ? { sweepApprovals } : {}),
      ...(tracking ? { keepApprovals: () => tracking.keepAlive() } : {}),
    });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes,
    // Echo our subprotocol, never the bearer.<jwt> entry.
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const onIdeFrame = handleIdeFrame.bind(undefined, ideInbound);
  server.on(
    "upgrade",
    createUpgradeHandler({
      server,
      wss,
      registry,
      verifyUserToken: deps.verifyUserToken,
      ipLimiter,
      anonymousLimiter,
      validators,
      liveSessions,
      maxSessionsPerUser: opts.maxSessionsPerUser,
      admit: deps.admit,
      // A `ws.session` span per connection when tracing is on.
      onConnection: (ws, ctx) =>
        traceSession(ws, ctx, () => {
          acceptConnection(registry, onIdeFrame, ws, ctx, {
            maxQueuedBytes: opts.maxBufferedBytes,
            pingsPerMinute: opts.pingsPerMinute,
          });
          const conn = registry.get(ctx.sessionId)?.conn;
          const at = Date.now();
          if (conn) acceptedAt.set(conn, at);
          cluster?.attached(ctx.sessionId, at);
        }),
    }),
  );
  const heartbeat = startHeartbeat(registry, opts.pingIntervalMs);

  return {
    list: (orgId, pick) => liveSessionsOf(registry, orgId, pick),
    async health() {
      const [runtimeUp, redis] = await Promise.all([probeRuntime(deps.agentRuntimeUrl), redisState(deps.redis)]);
      return { agent_runtime: runtimeUp ? "available" : "unavailable", redis };
    },
    async close() {
      clearInterval(heartbeat);
      clearInterval(upkeep);
      await registry.shutdown();
      liveSessions.close();
      // After the links closed: the other nodes see this one gone at once and tell their IDEs.
      await tracking?.close();
      await cluster?.close();
      // The upgrade listener stays: until the HTTP server itself closes, new upgrades get 503 + Retry-After.
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * The org's sessions live on this node, newest first, as the console lists them. The agent is the session's as
 * shared across nodes (./agent-switch.ts): this node's copy changes only with a switch confirmed here. It is read
 * (from Redis) only for the sessions `pick` keeps: a page of them, not every session of the org for one page.
 */
async function liveSessionsOf(
  registry: SessionRegistry,
  orgId: string,
  pick: LiveSessionPick = (all) => all,
): ReturnType<SessionGateway["list"]> {
  const live = [...registry.all()]
    .filter((session) => session.record.orgId === orgId)
    .sort((a, b) => b.record.createdAt - a.record.createdAt);
  const sessionOf = new Map(live.map((session) => [summaryOf(session), session]));
  const picked = pick([...sessionOf.keys()]);
  const agents = await Promise.all(
    picked.map((summary) => {
      const session = sessionOf.get(summary);
      return session ? currentAgent(session, registry.store) : undefined;
    }),
  );
  return picked.map((summary, i) => withAgent(summary, agents[i]));
}

/** A live session as operators see it, but for its agent (read from the shared store for a page only). */
function summaryOf(session: LiveSession): LiveSessionSummary {
  const calls = [...session.pendingCalls.values()];
  return {
    session_id: clientSessionId(session.record.id),
    user: session.record.ownerSub,
    created_at: new Date(session.record.createdAt).toISOString(),
    ide_connected: session.conn !== undefined,
    runtime_connected: session.link !== undefined,
    pending_tool_calls: calls.length,
    awaiting_approval: calls.filter((c) => c.awaitingApproval).length,
  };
}

function withAgent(summary: LiveSessionSummary, agent: string | undefined): LiveSessionSummary {
  const { pending_tool_calls, awaiting_approval, ...head } = summary;
  return { ...head, ...(agent !== undefined ? { agent } : {}), pending_tool_calls, awaiting_approval };
}

/** The session's agent as the shared store knows it; this node's copy without one, or when it cannot be read. */
async function currentAgent(session: LiveSession, store: SessionStore): Promise<string | undefined> {
  if (!store.sharedAgent) return session.agent;
  try {
    return await store.sharedAgent(session.record.id);
  } catch {
    return session.agent;
  }
}

function defaultStore(opts: SessionGatewayOptions, nodeId: string, redis?: Redis): SessionStore {
  const replayWindow = {
    maxAgeMs: opts.replayWindowMs,
    maxFrames: opts.replayMaxFrames,
    maxBytes: opts.replayMaxBytes,
    maxTotalBytes: opts.replayMaxTotalBytes,
    trimIntervalMs: opts.replayTrimIntervalMs,
  };
  if (!redis) return createMemorySessionStore(replayWindow);
  return createRedisSessionStore({
    redis,
    keyPrefix: opts.redisKeyPrefix,
    nodeId,
    ttlMs: opts.sessionTtlMs + opts.replayWindowMs,
    ...replayWindow,
  });
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

/**
 * The tool policy and approvals the turns use. On several nodes (a cluster on Redis), the approvals a node's turns
 * wait for are recorded there, for a survivor to end if the node dies; `sweepApprovals` is then the upkeep's sweep,
 * and `tracking` (with or without approvals) keeps this node's sign of life.
 */
function governedByNode(
  deps: SessionGatewayDeps,
  cluster: SessionCluster | undefined,
  { redisKeyPrefix, nodeGoneAfterMs }: SessionGatewayOptions,
  nodeId: string,
  holding: (ctx: ToolPolicyContext, keep: () => Promise<ToolPolicyContext[]>) => Promise<boolean>,
) {
  const policy = deps.toolPolicy ?? referenceToolPolicy;
  const approvals = deps.approvals;
  if (!cluster) return { sweepApprovals: undefined, tracking: undefined, governed: { policy, approvals } };
  // Kept even without approvals: its keepAlive is this node's sign of life, which the others' take-over reads too.
  const tracking = new NodeApprovals(deps.redis!, redisKeyPrefix, nodeId, nodeGoneAfterMs);
  if (!approvals) return { sweepApprovals: undefined, tracking, governed: { policy, approvals } };
  const cancel = approvals.cancel;
  const sweep = cancel ? () => tracking.sweep((ctx, id) => cancel(ctx, id, NODE_GONE_REASON)) : undefined;
  return {
    sweepApprovals: sweep,
    tracking,
    governed: trackedByNode(tracking, policy, approvals, (ctx) => holding(ctx, () => tracking.keepAlive())),
  };
}
