// The approvals a node's turns are waiting for, recorded in Redis under that node, so that when the node dies
// (SIGKILL, a crash, silent for nodeGoneAfterMs: stalled or cut off from Redis that long) another node ends them:
// the turn that asked went with the node, and an approval left pending would sit in the operators' queue until its
// own expiry, releasing nothing if approved. A live node ends its own (./session-state.ts cancelApprovals); this is for the
// node that can no longer do it.
//
// Why per node, and not at take-over or at the session lease's expiry: a dead node's sessions may never be
// resumed (no take-over), and its session keys simply lapse in Redis (no node runs their expiry timer), so neither
// event is sure to happen. That the node is gone is sure to be seen: every node's upkeep looks, and one atomic
// script both checks that the node shows no sign of life and takes its record, so with N nodes racing exactly
// one cancels each approval (a second cancel would be refused by the store anyway: it is no longer pending).
//
// Gone means no sign of life for nodeGoneAfterMs (15 s by default): each node refreshes a key of its own here
// every upkeep tick, with that TTL, beside its 3 s presence key. A stall (a long GC pause, a throttled CPU, a
// paused VM) lets the presence key lapse but not this one, so the node's approvals outlive it: one lapse of the
// presence key is not a death (nor, by the same rule, ./cluster.ts nodeShowsLifeKeys, for the sessions' take-over).
// A node back from a longer stall (or cut off from Redis that long) may find its approvals taken: the taker leaves
// what it took under the node's name in the same atomic step, and the node's next refresh reads (and clears) that
// in the same atomic step as it re-asserts its key, so a claim and the re-assertion are ordered, never both missed:
// either the claim saw the key (took nothing) or the node sees what was taken and ends those turns itself
// (./cross-node.ts endTurnsDeclaredGone), the approval's cancel by the taker standing (the store refuses any later
// decision on it). The taker's cancel in the database comes after its take in Redis, and a node back from a stall
// may have an IDE decision waiting (its socket, its inbox), or find an operator's approve made meanwhile (REST):
// so before it decides any approval, or spends one decided, it re-asserts and reads what was taken first, and looks
// whether its session was taken over (./cross-node.ts stillHolding), rather than wait for its next refresh — else
// its approve, then its consume, could beat the taker's cancel. Two nodes never both carry such an approval on.
//
// Without Redis there is one node, on its embedded SQLite file (the data-dir lock, src/data-dir-lock.ts, allows one
// process per file): no survivor exists, and it is the next process on that file that ends what the last one left
// (cancelLeftoverApprovals, at start-up, before any session is accepted).
//
// Layout (P = key prefix):
//   P:ws:approvals:{node}          hash    approval id → the call's context (JSON: sub, orgId, sessionId, callId,
//                                          toolName)
//   P:ws:approval-nodes            set     the nodes that may have such a hash
//   P:ws:approvals-live:{node}     string  present while the node shows signs of life: refreshed every upkeep tick,
//                                          lapses nodeGoneAfterMs after the last (deleted at once on a clean shutdown)
//   P:ws:approvals-taken:{node}    hash    what another node took from the node's record while it was silent, for
//                                          the node to read should it come back
import type { Redis } from "ioredis";
import { logger } from "../../core/log/logger";
import { NODE_REFRESH_MS, NODE_TTL_MS, nodeShowsLifeKeys, nodeSignOfLifeKey } from "./cluster";
import type { ToolApprovals, ToolPolicy, ToolPolicyContext, ToolRelease } from "./tool-policy";

const log = logger.child({ module: "sessions", part: "node-approvals" });

/** The reason recorded on an approval ended because its node is gone (the audit log's verdict reason). */
export const NODE_GONE_REASON =
  "the gateway node running the session's turn is gone: the turn that asked for this approval ended with it";

/** The reason recorded on an approval its previous process left pending, ended when the node starts again. */
export const RESTART_REASON =
  "the gateway restarted: the session's turn that asked for this approval ended with the gateway's previous process";

/** An approval asked by a session's turn, as the store lists it. */
export interface LeftoverApproval {
  org_id: string;
  approval_id: string;
}

/**
 * At the start of a node alone on its store (the embedded SQLite file, no Redis): no session and no turn exists
 * yet, so every approval still pending that a session's turn asked for (`left`) was asked by the previous process
 * of this data directory, whose turns ended with it. Each is cancelled once (`cancel` refuses one that is no
 * longer pending), audited with RESTART_REASON; the governed actions' own approvals (REST, MCP) are not in
 * `left`, they outlive a restart. Returns how many were cancelled.
 */
export async function cancelLeftoverApprovals(
  left: readonly LeftoverApproval[],
  cancel: (orgId: string, approvalId: string, reason: string) => boolean | Promise<boolean>,
): Promise<number> {
  let cancelled = 0;
  for (const { org_id, approval_id } of left) {
    if (await cancel(org_id, approval_id, RESTART_REASON)) cancelled++;
  }
  if (left.length > 0)
    log.warn({ cancelled, found: left.length }, "cancelled the approvals of the previous process's session turns");
  return cancelled;
}

/**
 * How long a node's record (and what was taken from it) outlives its last refresh (each upkeep tick of a live
 * node): a dead node's record is taken within seconds by a survivor; this only bounds what is left when no node at
 * all survives, or a node whose approvals were taken never comes back to read that.
 */
const RECORD_TTL_MS = 7 * 24 * 60 * 60_000;

/**
 * Takes a gone node's record, once: nothing while it shows life (KEYS[3], KEYS[4]: ./cluster.ts nodeShowsLifeKeys,
 * the rule take-over uses too), else its entries, with the record and its set membership deleted and the entries
 * left in its taken hash (KEYS[5]) in the same step.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[3], KEYS[4]) > 0 then return {} end
local entries = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
for i = 1, #entries, 2 do redis.call('HSET', KEYS[5], entries[i], entries[i + 1]) end
if #entries > 0 then redis.call('PEXPIRE', KEYS[5], ARGV[2]) end
return entries`;

/**
 * This node's sign of life (KEYS[1], TTL ARGV[1]) re-asserted, its record (KEYS[2]) kept, and what was taken from
 * it meanwhile (KEYS[3]) returned and cleared, in one step (ordered with any CLAIM_SCRIPT).
 */
const KEEP_SCRIPT = `
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local taken = redis.call('HGETALL', KEYS[3])
if #taken > 0 then redis.call('DEL', KEYS[3]) end
return taken`;

type TrackedContext = Pick<ToolPolicyContext, "sub" | "orgId" | "sessionId" | "callId" | "toolName">;

export class NodeApprovals {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly nodeId: string,
    /** No sign of life from a node for this long: it is gone (never shorter than its presence key's TTL). */
    private readonly goneAfterMs: number,
  ) {}

  /**
   * Every upkeep tick, apart from the sweep (a slow cancel there must not silence this node): this node shows a
   * sign of life and keeps its record. Resolves with what other nodes took from the record while this node was
   * silent for goneAfterMs or more (they cancelled those approvals: the turns waiting for them must end here).
   */
  async keepAlive(): Promise<ToolPolicyContext[]> {
    const flat = (await this.redis.eval(
      KEEP_SCRIPT,
      3,
      this.liveKey(this.nodeId),
      this.record(this.nodeId),
      this.takenKey(this.nodeId),
      Math.max(this.goneAfterMs, NODE_TTL_MS),
      RECORD_TTL_MS,
    )) as string[];
    const taken = contextsOf(flat).map(([, ctx]) => ctx);
    if (taken.length > 0)
      log.warn({ taken: taken.length }, "this node was silent long enough to count as gone: its approvals were taken");
    return taken;
  }

  /** Clean shutdown: the others may end what this node leaves at once. */
  async close(): Promise<void> {
    await this.redis.del(this.liveKey(this.nodeId)).catch(() => undefined);
  }

  /**
   * This node's turn waits for `approvalId` (written before the IDE hears of the call, not awaited). A node that
   * dies between the approval's commit and this write leaves it unrecorded (pending until its expiry): the id is
   * minted inside the policy pipeline, and an identical pending request shares an existing one, so it cannot be
   * recorded first; and the store and Redis cannot commit in one step. The window is one Redis round trip.
   */
  track(ctx: ToolPolicyContext, approvalId: string): void {
    const { sub, orgId, sessionId, callId, toolName } = ctx;
    const entry: TrackedContext = { sub, orgId, sessionId, callId, toolName };
    this.redis
      .pipeline()
      .hset(this.record(this.nodeId), approvalId, JSON.stringify(entry))
      .pexpire(this.record(this.nodeId), RECORD_TTL_MS)
      .sadd(this.nodesKey(), this.nodeId)
      .exec()
      .catch((err: unknown) => log.warn({ err: String(err), approvalId }, "cannot record a pending approval"));
  }

  /** No turn of this node waits for `approvalId` any more (decided, or ended here). */
  forget(approvalId: string): void {
    this.redis
      .hdel(this.record(this.nodeId), approvalId)
      .catch((err: unknown) => log.debug({ err: String(err), approvalId }, "cannot forget a pending approval"));
  }

  /**
   * Every upkeep tick: ends the approvals of every node that is gone with `cancel`. An approval whose cancel
   * fails (the database away) is put back, for the next tick to try again.
   */
  async sweep(cancel: (ctx: ToolPolicyContext, approvalId: string) => Promise<void>): Promise<void> {
    const nodes = await this.redis.smembers(this.nodesKey());
    for (const node of nodes) {
      if (node === this.nodeId) continue;
      const entries = await this.claim(node);
      for (const [approvalId, ctx] of entries) {
        log.warn({ approvalId, sessionId: ctx.sessionId, deadNode: node }, "cancelling an approval of a gone node");
        await cancel(ctx, approvalId).catch((err: unknown) => {
          log.warn({ err: String(err), approvalId }, "cannot cancel an approval of a gone node; will retry");
          return this.putBack(node, approvalId, ctx);
        });
      }
    }
  }

  private async claim(node: string): Promise<[string, ToolPolicyContext][]> {
    const flat = (await this.redis.eval(
      CLAIM_SCRIPT,
      5,
      this.record(node),
      this.nodesKey(),
      ...nodeShowsLifeKeys(this.prefix, node),
      this.takenKey(node),
      node,
      RECORD_TTL_MS,
    )) as string[];
    return contextsOf(flat);
  }

  private async putBack(node: string, approvalId: string, ctx: ToolPolicyContext): Promise<void> {
    const { sub, orgId, sessionId, callId, toolName } = ctx;
    await this.redis
      .pipeline()
      .hset(this.record(node), approvalId, JSON.stringify({ sub, orgId, sessionId, callId, toolName }))
      .pexpire(this.record(node), RECORD_TTL_MS)
      .sadd(this.nodesKey(), node)
      .exec();
  }

  private record(node: string): string {
    return `${this.prefix}:ws:approvals:${node}`;
  }

  private liveKey(node: string): string {
    return nodeSignOfLifeKey(this.prefix, node);
  }

  private takenKey(node: string): string {
    return `${this.prefix}:ws:approvals-taken:${node}`;
  }

  private nodesKey(): string {
    return `${this.prefix}:ws:approval-nodes`;
  }
}

/** A flat HGETALL of a record: approval id, context, … */
function contextsOf(flat: string[]): [string, ToolPolicyContext][] {
  const entries: [string, ToolPolicyContext][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const ctx = parseContext(flat[i + 1] as string);
    if (ctx) entries.push([flat[i] as string, ctx]);
  }
  return entries;
}

/** A recorded context, as the approvals' cancel needs it (the call's arguments are not needed to cancel). */
function parseContext(text: string): ToolPolicyContext | undefined {
  try {
    const c = JSON.parse(text) as Partial<TrackedContext>;
    if (typeof c.sub !== "string" || typeof c.sessionId !== "string") return undefined;
    return {
      sub: c.sub,
      ...(typeof c.orgId === "string" ? { orgId: c.orgId } : {}),
      sessionId: c.sessionId,
      callId: String(c.callId ?? ""),
      toolName: String(c.toolName ?? ""),
      arguments: {},
    };
  } catch {
    return undefined;
  }
}

/**
 * `stillHolding`'s answer for a settle about to spend a decided approval: asked again every NODE_REFRESH_MS while
 * Redis cannot say (nobody sends that decision again, unlike an IDE's), until it answers or the turn ends here.
 */
async function answered(
  stillHolding: (ctx: ToolPolicyContext) => Promise<boolean>,
  ctx: ToolPolicyContext,
  signal: AbortSignal,
): Promise<boolean> {
  for (;;) {
    signal.throwIfAborted();
    try {
      return await stillHolding(ctx);
    } catch (err) {
      log.warn({ err: String(err), sessionId: ctx.sessionId }, "cannot tell whether the turn is still this node's");
      await new Promise((resolve) => setTimeout(resolve, NODE_REFRESH_MS));
    }
  }
}

/** Why an IDE decision is refused for a turn this node was found, just before deciding, to no longer carry. */
export const TURN_LOST = "the session's turn was lost with its gateway node (counted as gone while it was silent)";

/**
 * The tool policy and approvals of a node, recording in `node` which approvals its turns wait for: an ESCALATE
 * (and a release that escalates anew) is tracked; an approval that settled, was replaced by an edit or was
 * cancelled here is forgotten. A settle aborted (the turn ending here, or this node shutting down) is not:
 * what ended the turn cancels it, and what it did not cancel a survivor will. An IDE decision (approve, reject,
 * edit) reaches the store, and a decided approval (an operator's approve over REST too) is spent or acted on, only
 * once `stillHolding` confirmed the turn is still this node's (./cross-node.ts stillHolding: a node back from a
 * stall must not decide, nor consume, an approval another node took; a turn found lost there ends here, its
 * approval cancelled, as for a decision).
 */
export function trackedByNode(
  node: NodeApprovals,
  policy: ToolPolicy,
  approvals: ToolApprovals,
  stillHolding: (ctx: ToolPolicyContext) => Promise<boolean>,
): { policy: ToolPolicy; approvals: ToolApprovals } {
  const releaseTracked = (ctx: ToolPolicyContext, settledId: string, release: ToolRelease): ToolRelease => {
    node.forget(settledId);
    if (release.outcome === "escalated") node.track(ctx, release.approvalId);
    return release;
  };
  return {
    async policy(ctx) {
      const decision = await policy(ctx);
      if (decision.decision === "ESCALATE" && decision.approvalId) node.track(ctx, decision.approvalId);
      return decision;
    },
    approvals: {
      settled: async (ctx, id, signal) =>
        releaseTracked(ctx, id, await approvals.settled(ctx, id, signal, () => answered(stillHolding, ctx, signal))),
      decide: async (ctx, id, decision, feedback) =>
        (await stillHolding(ctx)) ? approvals.decide(ctx, id, decision, feedback) : TURN_LOST,
      edit: async (ctx, id, args, feedback) => {
        if (!(await stillHolding(ctx))) return { refused: TURN_LOST };
        const result = await approvals.edit(ctx, id, args, feedback);
        // Refused: the approval was decided elsewhere and is still followed; its settle forgets it.
        return "refused" in result ? result : releaseTracked(ctx, id, result);
      },
      ...(approvals.cancel
        ? {
            async cancel(ctx: ToolPolicyContext, id: string, reason: string) {
              await approvals.cancel?.(ctx, id, reason);
              node.forget(id);
            },
          }
        : {}),
    },
  };
}
