// A gateway node that dies (SIGKILL) takes its sessions' turns with it; the approvals those turns asked for must
// end too, or operators see pending approvals for ever (24 h: their own expiry) that can release nothing. Two or
// three in-process nodes on the local Redis share one approvals store and audit log (as nodes share PostgreSQL);
// a node is "killed" by cutting its Redis connection for good (its presence lapses) and making its approvals
// calls inert (a dead process cancels nothing), so whatever ends the approvals is another node. A node "stalls"
// (kill -STOP, then -CONT) by holding all its Redis traffic both ways for a while: a stall shorter than
// nodeGoneAfterMs is not a death, a longer one is (and the node back ends the turns whose approvals were taken).
import { resolve } from "node:path";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ApprovalStore, createApprovalStore } from "../../core/approvals";
import { type AuditLog, createAuditLog } from "../../core/audit";
import { createGovernanceEngine } from "../../core/governance";
import { loadManifestDir } from "../../core/policy/manifest-loader";
import type { Db } from "../../core/store/sqlite";
import { openMigratedDatabase } from "../../core/store/test-support";
import { NODE_REFRESH_MS, NODE_TTL_MS, nodeSignOfLifeKey } from "./cluster";
import { createGovernedTools } from "./governed-tools";
import { DEFAULT_SESSION_OPTIONS } from "./options";
import { redisSessionsFixture } from "./redis-fixture";
import { type IdeClient, openIde, startGateway, type TestGateway } from "./test-support";
import type { ToolApprovals } from "./tool-policy";

const ORG = "org-ide";
const MANIFESTS = resolve(import.meta.dirname, "../../../examples/manifests");
const fx = redisSessionsFixture("node-loss-approvals");

let db: Db;
let approvals: ApprovalStore;
let audit: AuditLog;
let governed: ReturnType<typeof createGovernedTools>;
const ownConnections: Redis[] = [];

beforeEach(async () => {
  db = await openMigratedDatabase(":memory:");
  approvals = createApprovalStore(db, { pollIntervalMs: 50 });
  audit = createAuditLog(db);
  const engine = createGovernanceEngine({ db, approvals, audit });
  expect(loadManifestDir(MANIFESTS, engine.manifests, ORG).problems).toEqual([]);
  governed = createGovernedTools({ engine, approvals });
});
afterEach(async () => {
  for (const c of fx.clients.splice(0)) c.ws.terminate();
  for (const g of fx.running.splice(0)) await g.close();
  for (const r of ownConnections.splice(0)) r.disconnect();
  approvals.close();
  db.close();
});

interface Node extends TestGateway {
  /** SIGKILL, as far as the others can tell: its presence lapses, it cancels and releases nothing any more. */
  kill(): void;
  /**
   * A stall (a long GC pause, a throttled CPU, a paused VM: kill -STOP, then -CONT): for `ms` nothing this node
   * sends reaches Redis nor does Redis's answer reach it, then all it queued meanwhile goes out at once. With
   * `inbox`, what Redis pushes to its inbox (the frames other nodes forward) waits too, to be handled at once when
   * the node is back, as a process stopped whole finds it in its socket on -CONT. `ms` may be a promise instead:
   * the stall lasts until it resolves.
   */
  stall(ms: number | Promise<unknown>, opts?: { inbox?: boolean }): Promise<void>;
}

/**
 * A node on the shared approvals store, on a Redis connection of its own (which `kill` cuts). `failingCancels`:
 * its first cancels throw, as with the database away. `sweeps: false`: it never ends other nodes' approvals (its
 * sweep lagging far behind). `beforeEval`: awaited before each script it runs in Redis, with the script's arguments.
 */
async function node({
  failingCancels = 0,
  goneAfterMs = GONE_AFTER_MS,
  sweeps = true,
  beforeEval = undefined as ((args: unknown[]) => Promise<void>) | undefined,
} = {}): Promise<Node> {
  const own = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
  own.on("error", () => undefined);
  ownConnections.push(own);
  if (beforeEval) {
    const run = own.eval.bind(own) as (...args: unknown[]) => Promise<unknown>;
    (own as unknown as { eval: typeof run }).eval = async (...args) => {
      await beforeEval(args);
      return run(...args);
    };
  }
  // The node's other connections (its inbox's subscriber) are duplicates of this one: kept, for `stall`.
  const duplicates: Redis[] = [];
  const duplicate = own.duplicate.bind(own);
  own.duplicate = (...args: Parameters<Redis["duplicate"]>) => {
    const d = duplicate(...args);
    duplicates.push(d);
    return d;
  };
  let dead = false;
  const never = new Promise<never>(() => undefined);
  const base = governed.approvals;
  const inert: ToolApprovals = {
    settled: (ctx, id, signal, ...more) => base.settled(ctx, id, signal, ...more).then((r) => (dead ? never : r)),
    decide: (ctx, id, decision, feedback) => (dead ? never : base.decide(ctx, id, decision, feedback)),
    edit: (ctx, id, args, feedback) => (dead ? never : base.edit(ctx, id, args, feedback)),
    ...(sweeps
      ? {
          cancel: async (ctx, id, reason) => {
            if (failingCancels-- > 0) throw new Error("database unavailable");
            return dead ? undefined : base.cancel?.(ctx, id, reason);
          },
        }
      : {}),
  };
  const g = await startGateway(fx.idp, {
    redis: own,
    toolPolicy: governed.policy,
    approvals: inert,
    recordOutcome: governed.recordOutcome,
    tokenDelayMs: 5,
    options: { redisKeyPrefix: fx.prefix, nodeGoneAfterMs: goneAfterMs },
  });
  fx.running.push(g);
  return {
    ...g,
    kill() {
      dead = true;
      own.disconnect();
    },
    async stall(ms, { inbox = false } = {}) {
      const held = inbox ? [own, ...duplicates] : [own];
      for (const r of held) {
        r.stream.cork();
        r.stream.pause();
      }
      // A promise that never resolves (the test failed) still ends the stall, for the node to close.
      await (typeof ms === "number" ? sleep(ms) : Promise.race([ms, sleep(STALL_CAP_MS)]));
      for (const r of held) {
        r.stream.resume();
        r.stream.uncork();
      }
    },
  };
}

async function ide(g: TestGateway, sessionId: string, headers: Record<string, string> = {}): Promise<IdeClient> {
  const c = await openIde(`${g.wsBase}/ws/${sessionId}`, {
    token: await fx.idp.mint({ sub: "dev@acme", org: ORG }),
    headers,
  });
  fx.clients.push(c);
  return c;
}

/** An IDE on `g` whose turn waits for the approval of an escalated write_file. */
async function pendingApprovalOn(g: TestGateway, sessionId: string) {
  const c = await ide(g, sessionId);
  c.send({ type: "user_message", content: "write file lib/node.dart" });
  const call = await c.next((f) => f.type === "tool_call");
  const approvalId = call.approval_id as string;
  expect(approvals.get(ORG, approvalId)?.status).toBe("pending");
  return { c, call, approvalId };
}

const statusOf = (approvalId: string) => approvals.get(ORG, approvalId)?.status;
/** The audit records of the approval's verdicts (kind approval), with their status. */
const verdictsOf = (approvalId: string) =>
  audit
    .getInteraction(ORG, approvals.get(ORG, approvalId)!.interaction_id!)
    .filter((r) => r.kind === "approval")
    .map((r) => (r.meta as { approval_status?: string }).approval_status);
/** How long these nodes wait for a silent node before ending its approvals (shorter than the default 15 s). */
const GONE_AFTER_MS = 5_000;
/** A dead node counts as gone within GONE_AFTER_MS; the others look every NODE_REFRESH_MS. */
const GONE_WITHIN_MS = GONE_AFTER_MS + 4 * NODE_REFRESH_MS;
/** Whether some node's record (./node-approvals.ts) names the approval. */
async function tracked(approvalId: string): Promise<boolean> {
  const records = await fx.redis.keys(`${fx.prefix}:ws:approvals:*`);
  for (const key of records) if (await fx.redis.hexists(key, approvalId)) return true;
  return false;
}
/** The longest a stall until a promise lasts. */
const STALL_CAP_MS = 40_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The node holding the runtime link of the IDE's session `sessionId` (its Redis record's `link`). */
async function linkHolderOf(sessionId: string): Promise<string> {
  const [key] = await fx.redis.keys(`${fx.prefix}:ws:session:${sessionId}~*`);
  const holder = key ? await fx.redis.hget(key, "link") : null;
  expect(holder).toBeTruthy();
  return holder as string;
}
/** Resolves once `condition` holds (looked at every 100 ms). */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await sleep(100);
}

describe("the approvals of a turn whose gateway node died", () => {
  it("are cancelled, and audited as such, when the IDE resumes on another node", async () => {
    const a = await node();
    const b = await node();
    const { c, approvalId } = await pendingApprovalOn(a, "resumed-elsewhere");
    const lastSeq = String(c.frames.at(-1)!.seq);
    c.ws.terminate();
    a.kill();

    const moved = await ide(b, "resumed-elsewhere", { "x-gatehouse-last-seq": lastSeq });
    await moved.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", GONE_WITHIN_MS + 2_000);
    await expect.poll(() => statusOf(approvalId), { timeout: GONE_WITHIN_MS }).toBe("cancelled");
    expect(approvals.get(ORG, approvalId)).toMatchObject({ decided_by: "gatehouse" });
    expect(verdictsOf(approvalId)).toEqual(["cancelled"]);
    // An operator's late approve releases nothing: the approval is no longer pending.
    expect(approvals.approve(ORG, approvalId, { by: "operator@acme", reason: "late" }).ok).toBe(false);
  });

  it("are cancelled when nobody comes back for the session: another node notices the owner is gone", async () => {
    const a = await node();
    await node(); // B: never sees the session
    const { c, approvalId } = await pendingApprovalOn(a, "abandoned");
    c.ws.terminate();
    a.kill();
    await expect.poll(() => statusOf(approvalId), { timeout: GONE_WITHIN_MS + 2_000 }).toBe("cancelled");
    expect(verdictsOf(approvalId)).toEqual(["cancelled"]);
    expect(approvals.get(ORG, approvalId)?.decision_reason).toMatch(/gateway node/);
  });

  it("are cancelled once when two surviving nodes race for them", async () => {
    const a = await node();
    await node();
    await node();
    const first = await pendingApprovalOn(a, "raced-1");
    const second = await pendingApprovalOn(a, "raced-2");
    a.kill();
    for (const { approvalId } of [first, second])
      await expect.poll(() => statusOf(approvalId), { timeout: GONE_WITHIN_MS + 2_000 }).toBe("cancelled");
    await sleep(3 * NODE_REFRESH_MS);
    expect(verdictsOf(first.approvalId)).toEqual(["cancelled"]);
    expect(verdictsOf(second.approvalId)).toEqual(["cancelled"]);
    expect(await tracked(first.approvalId)).toBe(false);
  });

  it("are cancelled on a later look when the first cancel fails (the database away)", async () => {
    const a = await node();
    await node({ failingCancels: 2 });
    const { approvalId } = await pendingApprovalOn(a, "retried");
    a.kill();
    await expect.poll(() => statusOf(approvalId), { timeout: GONE_WITHIN_MS + 4_000 }).toBe("cancelled");
    expect(verdictsOf(approvalId)).toEqual(["cancelled"]);
  });

  it("stay pending while their node lives, whatever the other nodes do", async () => {
    const a = await node();
    await node();
    const { c, call, approvalId } = await pendingApprovalOn(a, "alive");
    await sleep(GONE_WITHIN_MS);
    expect(statusOf(approvalId)).toBe("pending");
    expect(await tracked(approvalId)).toBe(true);
    // And the turn still goes on: the IDE's approve releases the call.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(statusOf(approvalId)).toBe("consumed");
    expect(verdictsOf(approvalId)).toEqual(["approved"]);
    // Decided: no longer recorded as waiting, so nothing is left for a survivor should this node die now.
    await expect.poll(() => tracked(approvalId)).toBe(false);
  });
});

describe("the approvals of a turn whose gateway node stalled (GC pause, throttled CPU, paused VM)", () => {
  it("stay pending through a stall longer than the presence TTL, and the IDE's approve still releases the call", async () => {
    const a = await node({ goneAfterMs: DEFAULT_SESSION_OPTIONS.nodeGoneAfterMs });
    await node({ goneAfterMs: DEFAULT_SESSION_OPTIONS.nodeGoneAfterMs });
    const { c, call, approvalId } = await pendingApprovalOn(a, "stalled");
    await a.stall(NODE_TTL_MS + 2_000);
    await sleep(3 * NODE_REFRESH_MS); // B keeps looking after A is back
    expect(statusOf(approvalId)).toBe("pending");
    expect(c.frames.filter((f) => f.type === "error")).toEqual([]);
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(statusOf(approvalId)).toBe("consumed");
    expect(verdictsOf(approvalId)).toEqual(["approved"]);
  });

  it("are cancelled once, by another node, when the stall outlasts the bound; the node back closes that turn", async () => {
    const a = await node();
    await node();
    const { c, call, approvalId } = await pendingApprovalOn(a, "stalled-too-long");
    await a.stall(GONE_WITHIN_MS + 2_000);
    expect(statusOf(approvalId)).toBe("cancelled");
    expect(approvals.get(ORG, approvalId)?.decision_reason).toMatch(/gateway node/);
    // Back: A finds its approvals taken and ends the turn that waited for them; nothing of that turn is released.
    await c.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", GONE_WITHIN_MS);
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID");
    expect(verdictsOf(approvalId)).toEqual(["cancelled"]);
  });

  it("an operator's approve made while the node is stalled past the bound is not spent by that node when it is back", async () => {
    // The operator approves over REST (the shared store) while A is stopped and B has taken A's approvals (its
    // cancel lagging: its database away). A's turn was waiting for that approval: it must find out it was counted
    // as gone before it spends the approval (consumed, intent ALLOW) on a call its IDE is told is lost.
    const a = await node();
    await node({ failingCancels: 1_000 });
    const { c, approvalId } = await pendingApprovalOn(a, "operator-approved-while-stalled");
    const aNode = await linkHolderOf("operator-approved-while-stalled");
    const claimed = until(async () => (await fx.redis.exists(`${fx.prefix}:ws:approvals-taken:${aNode}`)) === 1);
    const back = claimed.then(async () => {
      expect(approvals.approve(ORG, approvalId, { by: "operator@acme", reason: "ok" }).ok).toBe(true);
      await sleep(1_000); // A's store (not stalled here) sees the approve meanwhile, as a node on -CONT would
    });
    await a.stall(back);
    await c.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", GONE_WITHIN_MS);
    await expect.poll(() => statusOf(approvalId), { timeout: GONE_WITHIN_MS }).toBe("cancelled");
    expect(verdictsOf(approvalId)).toEqual(["approved", "cancelled"]);
    expect(c.frames.some((f) => f.type === "agent_status" && f.status === "executing_tool")).toBe(false);
  }, 90_000);

  it("a node that never comes back after its stall still has its approvals cancelled", async () => {
    const a = await node();
    await node();
    const { approvalId } = await pendingApprovalOn(a, "stalled-then-dead");
    await a.stall(NODE_TTL_MS + 1_000);
    a.kill();
    await expect.poll(() => statusOf(approvalId), { timeout: GONE_WITHIN_MS + 2_000 }).toBe("cancelled");
    expect(verdictsOf(approvalId)).toEqual(["cancelled"]);
  });
});

describe("a session whose IDE is on another node than its runtime link, when the link's node stalls", () => {
  /** The turn's approval pending on A, its IDE moved to B (the frames A numbers reach it by the stream). */
  async function ideMovedTo(b: TestGateway, a: TestGateway, sessionId: string) {
    const { c, call, approvalId } = await pendingApprovalOn(a, sessionId);
    const lastSeq = String(c.frames.at(-1)!.seq);
    c.ws.terminate();
    const moved = await ide(b, sessionId, { "x-gatehouse-last-seq": lastSeq });
    await moved.next((f) => f.type === "session_resumed");
    return { moved, call, approvalId };
  }

  it("is not taken over by the IDE's node for a stall shorter than the bound: the IDE's approve releases the call", async () => {
    const a = await node({ goneAfterMs: DEFAULT_SESSION_OPTIONS.nodeGoneAfterMs });
    const b = await node({ goneAfterMs: DEFAULT_SESSION_OPTIONS.nodeGoneAfterMs });
    const { moved, call, approvalId } = await ideMovedTo(b, a, "stalled-link");
    await a.stall(GONE_AFTER_MS); // past A's 3 s presence, well within the 15 s bound
    await sleep(3 * NODE_REFRESH_MS); // B keeps looking after A is back; A looks whether it was taken over
    expect(moved.frames.filter((f) => f.type === "error")).toEqual([]);
    expect(statusOf(approvalId)).toBe("pending");
    moved.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await moved.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(statusOf(approvalId)).toBe("consumed");
    expect(verdictsOf(approvalId)).toEqual(["approved"]);
  });

  it("is taken over by the IDE's node when the link's node never comes back", async () => {
    const a = await node();
    const b = await node();
    const { moved, approvalId } = await ideMovedTo(b, a, "stalled-link-dead");
    await a.stall(NODE_TTL_MS + 1_000);
    a.kill();
    const lost = await moved.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", GONE_WITHIN_MS);
    expect(lost).toMatchObject({ details: { reason: "NODE_GONE" } });
    await expect.poll(() => statusOf(approvalId), { timeout: GONE_WITHIN_MS }).toBe("cancelled");
    expect(verdictsOf(approvalId)).toEqual(["cancelled"]);
  });
  it("is not taken over when the link's node shows life again between the IDE's node's look and its take", async () => {
    // B's upkeep read that A showed no sign of life (stopped past the bound), then took the link in a second Redis
    // step. A, back in between, showed life, found nothing taken (B's sweep lagging) nor its session taken over, and
    // carried its turn on (an operator's approve released the call, its approval spent), while B's take went through
    // after it and told the IDE AGENT_UNAVAILABLE NODE_GONE: both nodes acting on one turn. The look and the take
    // are one step: here the take finds A alive and leaves the session with it.
    let aNode = "";
    let attempted!: () => void;
    const takeAttempted = new Promise<void>((r) => {
      attempted = r;
    });
    let letTake!: () => void;
    const takeMayGo = new Promise<void>((r) => {
      letTake = r;
    });
    const a = await node();
    const b = await node({
      sweeps: false,
      beforeEval: async (args) => {
        // B's take of A's link (the one script of B's naming A's node and the `link` field): held until A is back.
        if (!aNode || !String(args[0]).includes("'link'") || !args.includes(aNode)) return;
        attempted();
        await takeMayGo;
      },
    });
    const { moved, approvalId } = await ideMovedTo(b, a, "look-then-take");
    aNode = await linkHolderOf("look-then-take");
    await a.stall(takeAttempted, { inbox: true });
    await until(async () => (await fx.redis.exists(nodeSignOfLifeKey(fx.prefix, aNode))) === 1);
    expect(approvals.approve(ORG, approvalId, { by: "operator@acme", reason: "ok" }).ok).toBe(true);
    await expect.poll(() => statusOf(approvalId), { timeout: GONE_WITHIN_MS }).toBe("consumed");
    letTake();
    await sleep(3 * NODE_REFRESH_MS);
    expect(moved.frames.filter((f) => f.type === "error")).toEqual([]);
    expect(await linkHolderOf("look-then-take")).toBe(aNode);
    expect(verdictsOf(approvalId)).toEqual(["approved"]);
  }, 90_000);

  it("ends the turn when the link's node, back from a stall past the bound, finds the IDE's approve (sent meanwhile) in its inbox", async () => {
    // R23b: the IDE's approve, forwarded by B while A was stopped, waited in A's inbox; back, A applied it (the
    // approval approved by the IDE, then consumed: intent ALLOW) before its next upkeep read that it had been
    // counted as gone — while B had told the IDE NODE_GONE and taken the session over, so the call could never run
    // and its tool_result was refused. The taker's cancel lags its Redis take (here: its database is away), which is
    // the gap A's decision fell in. A node must find out whether it was counted as gone before it decides.
    const a = await node();
    const b = await node({ failingCancels: 1_000 });
    const { moved, call, approvalId } = await ideMovedTo(b, a, "stalled-link-decided");
    const stalled = a.stall(GONE_WITHIN_MS + 2_000, { inbox: true });
    await sleep(NODE_REFRESH_MS);
    moved.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "d1" });
    const lost = await moved.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", GONE_WITHIN_MS);
    expect(lost).toMatchObject({ details: { reason: "NODE_GONE" } });
    await stalled;
    // Back: the turn B declared lost does not go on on A. Its approval ends cancelled, the IDE's approve never
    // counted (no approved verdict, nothing consumed), so no budget unit or single-use approval is spent on it.
    await expect.poll(() => statusOf(approvalId), { timeout: 3 * NODE_REFRESH_MS }).toBe("cancelled");
    await sleep(3 * NODE_REFRESH_MS);
    expect(statusOf(approvalId)).toBe("cancelled");
    expect(verdictsOf(approvalId)).toEqual(["cancelled"]);
    expect(moved.frames.some((f) => f.type === "agent_status" && f.status === "executing_tool")).toBe(false);
  });
});
