// What the session gateway is built from: its tunables, its dependencies and the handle it returns.
import type { IncomingMessage } from "node:http";
import type { Redis } from "ioredis";
import type { UserClaims } from "../../core/identity/user-tokens";
import type { HttpProblem } from "../../http/boundary";
import { DEFAULT_LIVE_SLOT_LEASE_MS } from "./live-session-cap";
import type { MessageValidators } from "./schemas";
import type { SessionStore } from "./session-store";
import type { ToolApprovals, ToolOutcomeRecorder, ToolPolicy } from "./tool-policy";

export interface SessionGatewayOptions {
  /** Heartbeat: ping every interval, terminate a socket that missed the previous pong. */
  pingIntervalMs: number;
  /** Largest accepted IDE frame; bigger → close 1009. */
  maxPayloadBytes: number;
  /**
   * Bytes queued on one socket before it counts as a slow consumer (close 1013); and bytes of IDE or runtime frames
   * waiting to be handled before that socket is no longer read (TCP back-pressure on the sender).
   */
  maxBufferedBytes: number;
  /**
   * How long the close frame of a socket Gatehouse closes for what its client did (a slow consumer, too many pings)
   * may wait behind the bytes the client does not read before the socket is cut.
   */
  slowConsumerCloseMs: number;
  /**
   * WebSocket pings one IDE socket may send a minute (refilled evenly; half of them at once at most); more → close
   * 1008.
   * Counted apart from messagesPerSessionPerMinute, so a keepalive never eats the IDE's frame budget.
   */
  pingsPerMinute: number;
  /**
   * Replay buffer per session: how long a dropped IDE can resume. A stream the IDE ended itself (close 1000) is
   * freed at once (./session-store.ts `release`).
   */
  replayWindowMs: number;
  replayMaxFrames: number;
  /** Replay bytes per session, and over every session of the node. */
  replayMaxBytes: number;
  replayMaxTotalBytes: number;
  /** How often expired replay frames are dropped from every buffer (idle and dropped sessions too). */
  replayTrimIntervalMs: number;
  /** A session without a socket for this long is dropped (its runtime link closed). */
  sessionTtlMs: number;
  connectionsPerIpPerMinute: number;
  /** Live IDE sockets per principal (issuer, org, sub), on every node together when Redis is shared; more → 429. */
  maxSessionsPerUser: number;
  /** With Redis: how long a live socket's slot counts without its node renewing it (a crashed node's lapse). */
  liveSlotLeaseMs: number;
  messagesPerSessionPerMinute: number;
  /**
   * Tool calls of one session passed to the IDE and not answered yet (each keeps its arguments until the IDE
   * answers or the session ends); the runtime's next tool_call is refused with TOO_MANY_PENDING_CALLS.
   */
  maxPendingCallsPerSession: number;
  runtimeConnectTimeoutMs: number;
  /**
   * With Redis: how long a node may show no sign of life (a long GC pause, a throttled CPU, a paused VM) before
   * the other nodes end the approvals its sessions' turns wait for (./node-approvals.ts) and take over the sessions
   * whose runtime link it holds (./cross-node.ts); at least 3 s.
   */
  nodeGoneAfterMs: number;
  /** Prefix of the rate limiters' Redis keys (several gateways sharing one Redis use the same prefix). */
  redisKeyPrefix: string;
}

export const DEFAULT_SESSION_OPTIONS: SessionGatewayOptions = {
  pingIntervalMs: 30_000,
  maxPayloadBytes: 1024 * 1024,
  maxBufferedBytes: 4 * 1024 * 1024,
  slowConsumerCloseMs: 5_000,
  pingsPerMinute: 60,
  replayWindowMs: 2 * 60_000,
  replayMaxFrames: 1000,
  replayMaxBytes: 8 * 1024 * 1024,
  replayMaxTotalBytes: 64 * 1024 * 1024,
  replayTrimIntervalMs: 1_000,
  sessionTtlMs: 30 * 60_000,
  connectionsPerIpPerMinute: 10,
  maxSessionsPerUser: 16,
  liveSlotLeaseMs: DEFAULT_LIVE_SLOT_LEASE_MS,
  messagesPerSessionPerMinute: 100,
  maxPendingCallsPerSession: 64,
  runtimeConnectTimeoutMs: 5_000,
  nodeGoneAfterMs: 15_000,
  redisKeyPrefix: "gatehouse",
};

export interface SessionGatewayDeps {
  /** From createUserTokenVerifier (src/core/identity/user-tokens.ts). */
  verifyUserToken: (token: string) => Promise<UserClaims>;
  /** AGENT_RUNTIME_URL, e.g. http://127.0.0.1:8001. */
  agentRuntimeUrl: string;
  /** AGENT_RUNTIME_KEY: sent to the runtime as a bearer token when set. */
  agentRuntimeKey?: string | undefined;
  /** The policy engine's seam; without it, the reference always-approve list. */
  toolPolicy?: ToolPolicy;
  /**
   * The approvals store behind ESCALATE (./governed-tools.ts). With it, a call that carries an approval_id is
   * released to the runtime only once that approval is decided — by the IDE's hitl_decision or by an operator
   * over REST — and re-checked by the policy. Without it, the IDE's decision goes straight to the runtime.
   */
  approvals?: ToolApprovals;
  /**
   * Told the IDE's `tool_result` for every call the policy decided (with the context it was decided with), so
   * the outcome is audited. Fire and forget: a failure is logged and never delays or changes the relay.
   */
  recordOutcome?: ToolOutcomeRecorder;
  /** REDIS_URL client: rate limits and sessions (unless `store` is given) shared across nodes; health PINGs it. */
  redis?: Redis | undefined;
  store?: SessionStore;
  validators?: MessageValidators;
  options?: Partial<SessionGatewayOptions>;
  /** Refuses an upgrade sent to a name, or from a site, the gateway does not answer for (src/http/boundary/hosts.ts). */
  admit?: ((req: IncomingMessage) => HttpProblem | undefined) | undefined;
}

export interface SessionGatewayHealth {
  agent_runtime: "available" | "unavailable";
  redis: "connected" | "disconnected" | "not_configured";
}

/** A live session as operators see it (spec: LiveSession). */
export interface LiveSessionSummary {
  session_id: string;
  user: string;
  created_at: string;
  ide_connected: boolean;
  runtime_connected: boolean;
  agent?: string;
  pending_tool_calls: number;
  awaiting_approval: number;
}

/** The sessions a caller shows (a page), picked from the org's, given without their agent, before it is read. */
export type LiveSessionPick = (sessions: LiveSessionSummary[]) => LiveSessionSummary[];

export interface SessionGateway {
  /** SIGTERM path: refuse new upgrades, close every socket with 1012 (resume hint), drop runtime links. */
  close(): Promise<void>;
  health(): Promise<SessionGatewayHealth>;
  /**
   * The sessions of `orgId` this node holds, newest first (the operator console's Sessions view), each with its
   * agent as shared across nodes: read (one Redis read each) only for the sessions `pick` keeps, a page of them.
   */
  list(orgId: string, pick?: LiveSessionPick): Promise<LiveSessionSummary[]>;
}
