// IDE frames for a runtime link on another node (see ./cluster.ts for the layout and the protocol).
//
//   node B (IDE here, no link)                         node A (holds the link, numbers the frames)
//   IDE frame ─▶ routeElsewhere ─publish─▶ inbox ─▶ applyForwarded: owner checked, validated again, then the
//                                                  same handler as A's own IDE frames (tool policy, approvals,
//                                                  ack once written to the link — the ack reaches the IDE
//                                                  through the frames stream B follows)
//   notices ◀──────────────── answer ◀────────────── connection notices (INVALID_CALL_ID …), no seq
//
// A holder that is gone (crashed, shut down, or no sign of life for nodeGoneAfterMs: ./cluster.ts
// nodeShowsLifeKeys, the rule the approvals' sweep uses; a shorter stall is not a death) takes its runtime link
// and running turn with it: B takes the session over (catches up on the stream, becomes the node that numbers its
// frames) and tells the IDE AGENT_UNAVAILABLE, as a single node does when its link drops; the next IDE frame opens
// a link on B.
import WebSocket from "ws";
import { logger } from "../../core/log/logger";
import type { ForwardAnswer, ForwardedFrameHandler, SessionCluster } from "./cluster";
import { type ClientFrame, dispatchFrame, parseFrame } from "./frames";
import { type IdeInboundDeps, ideFrameHandlers, messageIdOf } from "./ide-inbound";
import { sessionMetrics as metrics } from "./metrics";
import { type SessionOwner, sameOwner } from "./owner";
import { type Connection, type LiveSession, recordOwner, type SessionRegistry } from "./session-state";
import type { ToolPolicyContext } from "./tool-policy";

const log = logger.child({ module: "sessions", part: "cross-node" });

const OWNER_GONE = "Agent runtime connection lost: the gateway node running this session's turn is gone";

// ---------------------------------------------------------------- node B: the IDE is here, the link is not

/**
 * Hands a runtime-bound IDE frame to the node holding the session's link; true when it was handled that way
 * (forwarded, or answered with an error), false when this node handles it itself (no link elsewhere).
 */
export async function routeElsewhere(
  cluster: SessionCluster,
  registry: SessionRegistry,
  session: LiveSession,
  conn: Connection,
  frame: ClientFrame,
): Promise<boolean> {
  if (frame.type === "resume" || session.link || session.linking || !conn.principal) return false;
  const sessionId = session.record.id;
  const holder = await cluster.holderElsewhere(sessionId);
  if (!holder) return false;
  // Gone before we asked: its turn is lost; this node carries on (the frame opens a link here). Unless it showed
  // life again by the take: then the frame goes to it.
  if (!holder.alive && (await takeOver(cluster, registry, session, holder.node))) return false;
  const messageId = messageIdOf(frame as { message_id?: string });
  const outcome = await cluster.forward(holder.node, {
    sessionId,
    principal: conn.principal,
    frame: { ...frame, message_id: messageId },
  });
  if (outcome.delivered && outcome.answer.accepted) {
    metrics.messages.inc({ direction: "gateway_to_node", type: frame.type });
    for (const notice of outcome.answer.notices) deliverNotice(registry, session, conn, notice);
    return true;
  }
  // The holder dropped the session (its link and turn with it) but is still named: this node takes it over and
  // handles the frame itself, rather than refusing every frame of a session nobody holds.
  if (outcome.delivered && outcome.answer.notHeld && (await cluster.takeDroppedLink(sessionId, holder.node))) {
    for (const frame of (await registry.store.catchUp?.(sessionId)) ?? []) registry.relay(session, conn, frame);
    return false;
  }
  metrics.messagesProcessed.inc({ status: "error" });
  if (!outcome.delivered && outcome.holderGone && (await takeOver(cluster, registry, session, holder.node, messageId)))
    return true;
  // Alive (again, by the take) but it did not take the frame: a notice on this socket only (that node still numbers
  // the stream).
  const reason = outcome.delivered ? outcome.answer.reason : "no answer in time";
  log.warn({ sessionId, holder: holder.node, reason }, "the node holding the runtime link did not take a frame");
  registry.sendError(
    session,
    "AGENT_UNAVAILABLE",
    "Agent runtime is unavailable: the frame did not reach the session's runtime link",
    { details: { message_id: messageId } },
    false,
    conn,
  );
  return true;
}

const takingOver = new WeakMap<LiveSession, Promise<boolean>>();

/**
 * The holder is gone: once per session, clear it, adopt what it appended last, and tell the IDE its turn is
 * lost (AGENT_UNAVAILABLE, numbered by this node from now on). With `messageId`: that frame, sent for the lost
 * turn, is not acknowledged (whether it reached the runtime before the holder went cannot be known). Resolves
 * false, nothing done nor told, when the holder shows life again by the take (one Redis step with it): its turn
 * goes on there.
 */
export function takeOver(
  cluster: SessionCluster,
  registry: SessionRegistry,
  session: LiveSession,
  deadNode: string,
  messageId?: string,
): Promise<boolean> {
  const previous = takingOver.get(session) ?? Promise.resolve(true);
  const next = previous.then(async () => {
    const taken = await cluster.takeLink(session.record.id, deadNode);
    if (taken === "alive") return false;
    const won = taken === "taken";
    if (won) {
      log.warn({ sessionId: session.record.id, deadNode }, "the node holding the runtime link is gone; taking over");
      for (const frame of (await registry.store.catchUp?.(session.record.id)) ?? [])
        if (session.conn) registry.relay(session, session.conn, frame);
    }
    if (won || messageId !== undefined)
      registry.sendError(session, "AGENT_UNAVAILABLE", OWNER_GONE, {
        details: { ...(messageId !== undefined ? { message_id: messageId } : {}), reason: "NODE_GONE" },
      });
    return true;
  });
  takingOver.set(session, next);
  return next;
}

/** A notice the holder produced for this socket (no seq): sent as it is, to this socket only. */
function deliverNotice(registry: SessionRegistry, session: LiveSession, conn: Connection, notice: string): void {
  try {
    const frame = JSON.parse(notice) as Parameters<SessionRegistry["emit"]>[1];
    registry.emit(session, frame, false, conn);
  } catch {
    log.warn({ sessionId: session.record.id }, "dropped a malformed notice from another node");
  }
}

// ---------------------------------------------------------------- node A: holds the link

/**
 * Applies frames other nodes forward, one at a time per session and in the order they arrive, exactly as this
 * node's own IDE frames: the principal must own the session here, and the frame must be valid.
 */
export function createForwardedFrameHandler(deps: IdeInboundDeps): ForwardedFrameHandler {
  const queues = new Map<string, Promise<unknown>>();
  return (forwarded) => {
    const id = String(forwarded?.sessionId);
    const run = (queues.get(id) ?? Promise.resolve()).then(() => applyForwarded(deps, forwarded));
    const tail = run.catch(() => undefined);
    queues.set(id, tail);
    void tail.then(() => {
      if (queues.get(id) === tail) queues.delete(id);
    });
    return run;
  };
}

async function applyForwarded(
  deps: IdeInboundDeps,
  forwarded: Parameters<ForwardedFrameHandler>[0],
): Promise<ForwardAnswer> {
  const session = deps.registry.get(forwarded.sessionId);
  if (!session || !deps.registry.isCurrent(session))
    return { ...refused("this node does not hold the session"), notHeld: true };
  const principal = forwarded.principal;
  if (typeof principal?.sub !== "string" || !sameOwner(recordOwner(session.record), principal)) {
    log.warn({ sessionId: forwarded.sessionId }, "refused a forwarded frame: its principal does not own the session");
    return refused("the frame's principal does not own the session");
  }
  const parsed = parseFrame(await deps.validators, "ide_in", JSON.stringify(forwarded.frame), false);
  if (!parsed.ok || parsed.frame.type === "resume") return refused("not a runtime-bound IDE frame");
  const notices: string[] = [];
  const conn = remoteConnection(principal, notices);
  const handling = dispatchFrame(ideFrameHandlers, parsed.frame, {
    ...deps,
    session,
    conn,
    receivedAt: performance.now(),
  });
  if (handling) await handling;
  return { accepted: true, notices };
}

function refused(reason: string): ForwardAnswer {
  return { accepted: false, notices: [], reason };
}

/**
 * The IDE socket on the forwarding node, as the frame handlers see it: what is sent to it only (a notice
 * without seq) is collected for the answer; the session's stream frames (the ack …) reach it by the stream.
 */
function remoteConnection(principal: SessionOwner, notices: string[]): Connection {
  const socket = {
    readyState: WebSocket.OPEN,
    bufferedAmount: 0,
    send: (data: string) => notices.push(data),
    close: () => undefined,
    terminate: () => undefined,
  };
  return {
    // Only these members of a socket are used for a connection that is not this node's (session-state.ts).
    ws: socket as unknown as WebSocket,
    firstLiveSeq: 0,
    alive: true,
    inbound: Promise.resolve(),
    principal,
    remote: true,
  };
}

// ---------------------------------------------------------------- upkeep

/**
 * Every NODE_REFRESH_MS: the approvals of nodes that are gone are ended (./node-approvals.ts); the sessions whose IDE is attached here are marked active in the shared store (so the
 * node they left does not expire them); a session followed here whose link holder is gone is taken over (its
 * IDE told AGENT_UNAVAILABLE instead of waiting for a turn that will never end); and a link this node still
 * holds for a session another node took over (this one was cut off from Redis) is closed with its turn.
 */
export function startUpkeep(
  cluster: SessionCluster,
  registry: SessionRegistry,
  deps: {
    touchEveryMs: number;
    intervalMs: number;
    sweepApprovals?: () => Promise<void>;
    /** This node's sign of life for its approvals; resolves with those other nodes took while it was silent. */
    keepApprovals?: () => Promise<ToolPolicyContext[]>;
  },
): NodeJS.Timeout {
  let lastTouch = 0;
  const sweep = deps.sweepApprovals && oneAtATime(deps.sweepApprovals);
  const keep = deps.keepApprovals;
  const keepApprovals =
    keep && oneAtATime(() => keep().then((taken) => endTurnsDeclaredGone(cluster, registry, taken)));
  // At once, not a tick later: sent before this node can record any approval, so a stall just after start-up
  // does not leave its first approvals without a sign of life (then only the 3 s presence would cover them).
  keepApprovals?.();
  const timer = setInterval(() => {
    keepApprovals?.();
    sweep?.();
    const attached = [...registry.all()].filter((s) => s.conn && !s.conn.remote);
    if (Date.now() - lastTouch >= deps.touchEveryMs) {
      lastTouch = Date.now();
      registry.store.touch?.(attached.map((s) => s.record.id));
    }
    for (const session of attached) {
      if (session.link || session.linking || session.record.nextSeq === 1) continue;
      void cluster.holderElsewhere(session.record.id).then((holder) => {
        if (holder && !holder.alive && !session.link && !session.linking)
          return takeOver(cluster, registry, session, holder.node);
      });
    }
    // Only a node whose presence may have lapsed can have lost sessions: no Redis reads otherwise.
    if (cluster.mayHaveLapsed()) void fenceLinks(cluster, registry);
  }, deps.intervalMs);
  timer.unref();
  return timer;
}

/** `run`, skipped while its previous run is still going (a slow database must not pile sweeps up). */
function oneAtATime(run: () => Promise<void>): () => void {
  let running = false;
  return () => {
    if (running) return;
    running = true;
    run()
      .catch((err: unknown) => log.warn({ err: String(err) }, "cannot keep or end the approvals of the nodes"))
      .finally(() => {
        running = false;
      });
  };
}

/**
 * The turns whose approvals (`taken`) another node ended while this node showed no sign of life for
 * nodeGoneAfterMs (a stall that long, or cut off from Redis: ./node-approvals.ts): that node cancelled them,
 * audited as ended with this node, so the turn ends here too rather than carry on beside it — the runtime link
 * closed, its other approvals cancelled, the session's link released and its IDE told AGENT_UNAVAILABLE NODE_GONE
 * (its next frame opens a new link).
 */
function endTurnsDeclaredGone(cluster: SessionCluster, registry: SessionRegistry, taken: ToolPolicyContext[]): void {
  for (const sessionId of new Set(taken.map((ctx) => ctx.sessionId))) {
    const session = registry.get(sessionId);
    const link = session?.link;
    if (!session || !link) continue;
    log.warn({ sessionId }, "this node was counted as gone and its turn's approvals cancelled; ending that turn");
    session.link = undefined;
    link.close();
    void cluster.releaseLink(sessionId);
    registry.cancelApprovals(session, "the session's turn was lost with its gateway node");
    if (registry.isCurrent(session))
      registry.sendError(session, "AGENT_UNAVAILABLE", OWNER_GONE, { details: { reason: "NODE_GONE" } });
  }
}

/**
 * Links of sessions another node took over: the turn they carry was declared lost (that node told its IDE and
 * numbers the frames now), so this node stops it — the link closed, its approvals cancelled — and writes nothing
 * more for it. The session stays known here: its IDE may come back, and its frames then go to the new holder.
 */
async function fenceLinks(cluster: SessionCluster, registry: SessionRegistry): Promise<void> {
  const linked = [...registry.all()].filter((s) => s.link);
  let lost: string[];
  try {
    lost = await cluster.takenOver(linked.map((s) => s.record.id));
  } catch {
    return; // Redis still away: nothing can be decided
  }
  for (const id of lost) fenceLink(registry, id);
}

function fenceLink(registry: SessionRegistry, sessionId: string): void {
  const session = registry.get(sessionId);
  if (!session?.link) return;
  log.warn({ sessionId }, "another node took this session over; closing the runtime link held here");
  const link = session.link;
  session.link = undefined;
  link.close();
  registry.cancelApprovals(session, "the session's turn was lost with its gateway node");
}

/**
 * Before this node decides an approval one of its turns waits for (the IDE's approve, reject or edit, from its own
 * socket or forwarded by another node), and before it spends or acts on one decided (an operator's approve over
 * REST too, ./node-approvals.ts trackedByNode): whether that turn is still this node's to carry on. The upkeep finds out
 * that this node was counted as gone (a stall, or cut off from Redis, for nodeGoneAfterMs) only on its next tick;
 * a decision handled first — on -CONT, the IDE's approve another node forwarded meanwhile waits in the inbox and
 * is handled before any upkeep reply arrives — was recorded and its approval consumed (intent ALLOW) although
 * another node had taken the approval (its cancel lagging the take in Redis) or the session (telling the IDE
 * NODE_GONE): a call nobody would run, spending the budget unit and the single-use approval (R23b). So first, in
 * order: this node re-asserts its sign of life and reads what was taken from it (`keep`, one atomic step:
 * ./node-approvals.ts keepAlive; from then on no claim succeeds for nodeGoneAfterMs), ending the turns whose
 * approvals were taken; then it looks whether the session was taken over, ending that turn too. False: the turn
 * is over here (the call no longer pending), and the decision must not reach the store. Throws when Redis cannot
 * say: the decision is then not recorded (the IDE may send it again).
 */
export async function stillHolding(
  cluster: SessionCluster,
  registry: SessionRegistry,
  keep: () => Promise<ToolPolicyContext[]>,
  ctx: Pick<ToolPolicyContext, "sessionId" | "callId">,
): Promise<boolean> {
  endTurnsDeclaredGone(cluster, registry, await keep());
  if ((await cluster.takenOver([ctx.sessionId])).length > 0) fenceLink(registry, ctx.sessionId);
  const session = registry.get(ctx.sessionId);
  return Boolean(session?.link && session.pendingCalls.has(ctx.callId));
}
