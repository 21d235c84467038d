// A governed hitl_decision is acknowledged only once it was recorded on its approval. A decision the approvals store
// could not record (the database away) is answered INTERNAL_ERROR and the call still waits; one the approval no longer
// takes (an operator decided first) is refused INVALID_CALL_ID and the IDE hears the operator's outcome — an edit too:
// it never replaces an operator's approval with the edited call. The same on the node holding the runtime link when
// the IDE is on another one.
import { resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ApprovalStore, createApprovalStore } from "../../core/approvals";
import { createAuditLog } from "../../core/audit";
import { createGovernanceEngine } from "../../core/governance";
import { loadManifestDir } from "../../core/policy/manifest-loader";
import type { Db } from "../../core/store/sqlite";
import { openMigratedDatabase } from "../../core/store/test-support";
import { createGovernedTools } from "./governed-tools";
import { redisSessionsFixture } from "./redis-fixture";
import { type Frame, type IdeClient, openIde, startGateway, type TestGateway } from "./test-support";
import type { ToolApprovals } from "./tool-policy";

const ORG = "org-ide";
const MANIFESTS = resolve(import.meta.dirname, "../../../examples/manifests");
const fx = redisSessionsFixture("decision-ack");

let db: Db;
let approvals: ApprovalStore;
let governed: ReturnType<typeof createGovernedTools>;

beforeEach(async () => {
  db = await openMigratedDatabase(":memory:");
  approvals = createApprovalStore(db, { pollIntervalMs: 50 });
  const engine = createGovernanceEngine({ db, approvals, audit: createAuditLog(db) });
  expect(loadManifestDir(MANIFESTS, engine.manifests, ORG).problems).toEqual([]);
  governed = createGovernedTools({ engine, approvals });
});
afterEach(async () => {
  // Before the database closes: no gateway left watching an approval in it.
  for (const c of fx.clients.splice(0)) c.ws.terminate();
  for (const g of fx.running.splice(0)) await g.close();
  approvals.close();
  db.close();
});

/**
 * What a node's approvals do before recording the IDE's decision (approve / reject, or an edit closing the original
 * approval): fail (the database away; approve / reject only) or let an operator in.
 */
interface DecideHooks {
  failures: number;
  before?: ((approvalId: string) => void) | undefined;
}

async function node(hooks: DecideHooks, shared = false): Promise<TestGateway> {
  const base = governed.approvals;
  const approvalsOfNode: ToolApprovals = {
    ...base,
    decide: async (ctx, approvalId, decision, feedback) => {
      if (hooks.failures-- > 0) throw new Error("database unavailable");
      hooks.before?.(approvalId);
      return base.decide(ctx, approvalId, decision, feedback);
    },
    edit: async (ctx, approvalId, modifiedArguments, feedback) => {
      hooks.before?.(approvalId);
      return base.edit(ctx, approvalId, modifiedArguments, feedback);
    },
  };
  const g = await startGateway(fx.idp, {
    toolPolicy: governed.policy,
    approvals: approvalsOfNode,
    recordOutcome: governed.recordOutcome,
    tokenDelayMs: 5,
    ...(shared ? { redis: fx.redis, options: { redisKeyPrefix: fx.prefix } } : {}),
  });
  fx.running.push(g);
  return g;
}

async function ide(g: TestGateway, sessionId: string, headers: Record<string, string> = {}): Promise<IdeClient> {
  const c = await openIde(`${g.wsBase}/ws/${sessionId}`, {
    token: await fx.idp.mint({ sub: "dev@acme", org: ORG }),
    headers,
  });
  fx.clients.push(c);
  return c;
}

/** An IDE whose turn waits for the approval of an escalated write_file. */
async function escalated(c: IdeClient) {
  c.send({ type: "user_message", content: "write file lib/ack.dart" });
  const call = await c.next((f) => f.type === "tool_call");
  expect(call).toMatchObject({ requires_approval: true, approval_id: expect.any(String) });
  return { callId: call.call_id as string, approvalId: call.approval_id as string, args: call.arguments };
}

const acked = (c: IdeClient, messageId: string) => c.frames.some((f) => f.type === "ack" && f.message_id === messageId);
const errorOf = (c: IdeClient, code: string) => c.next((f) => f.type === "error" && f.error_code === code);
const decisionsAt = (g: TestGateway) => g.runtime!.received.filter((r) => r.frame.type === "hitl_decision");
const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

/** The approve the store failed: a notice without seq naming the frame, no ack, nothing decided; resent, it counts. */
async function failedThenResent(c: IdeClient, holder: TestGateway, callId: string, approvalId: string) {
  c.send({ type: "hitl_decision", call_id: callId, decision: "approve", message_id: "d-fail" });
  const err = await errorOf(c, "INTERNAL_ERROR");
  expect(err).toMatchObject({ details: { call_id: callId, message_id: "d-fail" } });
  expect(err.seq).toBeUndefined();
  await settle();
  expect(acked(c, "d-fail")).toBe(false);
  expect(approvals.get(ORG, approvalId)?.status).toBe("pending");
  expect(decisionsAt(holder)).toEqual([]);

  c.send({ type: "hitl_decision", call_id: callId, decision: "approve", message_id: "d-again" });
  await c.next((f) => f.type === "ack" && f.message_id === "d-again");
  await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
  expect(decisionsAt(holder).map((r) => r.frame)).toEqual([
    expect.objectContaining({ call_id: callId, decision: "approve", message_id: "d-again" }),
  ]);
  expect(c.frames.filter((f: Frame) => f.type === "error")).toHaveLength(1);
}

/** The IDE's approve after an operator denied: refused without an ack, then the operator's TOOL_DENIED. */
async function decidedFirstElsewhere(c: IdeClient, holder: TestGateway, callId: string) {
  c.send({ type: "hitl_decision", call_id: callId, decision: "approve", message_id: "d-late" });
  const refusal = await errorOf(c, "INVALID_CALL_ID");
  expect(refusal).toMatchObject({ details: { call_id: callId, message_id: "d-late" } });
  expect(refusal.seq).toBeUndefined();
  const denied = await errorOf(c, "TOOL_DENIED");
  expect(denied).toMatchObject({ details: { call_id: callId, reasons: ["APPROVAL_DENIED"] } });
  await expect.poll(() => decisionsAt(holder).length).toBe(1);
  expect(decisionsAt(holder)[0]?.frame).toMatchObject({ decision: "reject" });
  expect(acked(c, "d-late")).toBe(false);
}

const EDITED = { path: "lib/other.dart", content: "edited" };

/**
 * The IDE's edit after an operator approved the call: refused without an ack, and the IDE is sent the call as the
 * operator approved it (its own arguments, runnable); the runtime hears an approve of that call, never the edit.
 */
async function editAfterApproval(c: IdeClient, holder: TestGateway, call: Awaited<ReturnType<typeof escalated>>) {
  const { callId, approvalId } = call;
  c.send({
    type: "hitl_decision",
    call_id: callId,
    decision: "edit",
    modified_arguments: EDITED,
    message_id: "e-late",
  });
  const refusal = await errorOf(c, "INVALID_CALL_ID");
  expect(refusal).toMatchObject({ details: { call_id: callId, message_id: "e-late" } });
  expect(refusal.seq).toBeUndefined();
  const runnable = await c.next((f) => f.type === "tool_call" && f.call_id === callId && !f.requires_approval);
  expect(runnable).toMatchObject({ arguments: call.args, approval_id: approvalId });
  await expect.poll(() => decisionsAt(holder).length).toBe(1);
  expect(decisionsAt(holder)[0]?.frame).toMatchObject({ decision: "approve", approval_id: approvalId });
  expect(decisionsAt(holder)[0]?.frame.modified_arguments).toBeUndefined();
  await settle();
  expect(acked(c, "e-late")).toBe(false);
  expect(c.frames.filter((f) => f.type === "tool_call" && !f.requires_approval)).toHaveLength(1);
  // The operator's approval is the one spent, by the original call; the edited call was never decided.
  expect(approvals.get(ORG, approvalId)).toMatchObject({ status: "consumed", decided_by: "operator@acme" });
  expect(approvals.list(ORG).filter((a) => a.approval_id !== approvalId)).toEqual([]);
}

describe("a governed hitl_decision on the node holding the runtime link", () => {
  it("the store fails to record it: INTERNAL_ERROR, no ack, the call still waits and a resent approve counts", async () => {
    const hooks: DecideHooks = { failures: 1 };
    const g = await node(hooks);
    const c = await ide(g, "store-fails");
    const { callId, approvalId } = await escalated(c);
    await failedThenResent(c, g, callId, approvalId);
  });

  it("an operator denied first: the approve is refused, not acked, and the IDE hears the denial", async () => {
    const hooks: DecideHooks = { failures: 0 };
    hooks.before = (approvalId) => void approvals.deny(ORG, approvalId, { by: "operator@acme", reason: "no" });
    const g = await node(hooks);
    const c = await ide(g, "decided-first");
    const { callId } = await escalated(c);
    await decidedFirstElsewhere(c, g, callId);
  });

  it("an operator approved first: the approve is refused, and the IDE is sent the call as runnable", async () => {
    const hooks: DecideHooks = { failures: 0 };
    hooks.before = (approvalId) => void approvals.approve(ORG, approvalId, { by: "operator@acme", reason: "ok" });
    const g = await node(hooks);
    const c = await ide(g, "approved-first");
    const { callId } = await escalated(c);
    c.send({ type: "hitl_decision", call_id: callId, decision: "approve", message_id: "d-same" });
    expect(await errorOf(c, "INVALID_CALL_ID")).toMatchObject({ details: { message_id: "d-same" } });
    // Its decision did not count: the IDE is told the call is runnable, as for any operator's approval.
    await c.next((f) => f.type === "tool_call" && f.requires_approval === false && f.call_id === callId);
    expect(acked(c, "d-same")).toBe(false);
  });

  it("an operator approved first: the edit is refused, not acked, and the IDE is sent the original call as runnable", async () => {
    const hooks: DecideHooks = { failures: 0 };
    hooks.before = (approvalId) => void approvals.approve(ORG, approvalId, { by: "operator@acme", reason: "ok" });
    const g = await node(hooks);
    const c = await ide(g, "edit-after-approval");
    await editAfterApproval(c, g, await escalated(c));
  });

  it("an operator denied first: the edit is refused, not acked, and the IDE hears the denial", async () => {
    const hooks: DecideHooks = { failures: 0 };
    hooks.before = (approvalId) => void approvals.deny(ORG, approvalId, { by: "operator@acme", reason: "no" });
    const g = await node(hooks);
    const c = await ide(g, "edit-after-denial");
    const { callId } = await escalated(c);
    c.send({
      type: "hitl_decision",
      call_id: callId,
      decision: "edit",
      modified_arguments: EDITED,
      message_id: "e-no",
    });
    expect(await errorOf(c, "INVALID_CALL_ID")).toMatchObject({ details: { call_id: callId, message_id: "e-no" } });
    expect(await errorOf(c, "TOOL_DENIED")).toMatchObject({
      details: { call_id: callId, reasons: ["APPROVAL_DENIED"] },
    });
    await expect.poll(() => decisionsAt(g).length).toBe(1);
    expect(decisionsAt(g)[0]?.frame).toMatchObject({ decision: "reject" });
    await settle();
    expect(acked(c, "e-no")).toBe(false);
  });
});

describe("a governed hitl_decision from an IDE on another node", () => {
  /** The turn runs on A (its link, its approvals); the IDE left it and resumed on B. */
  async function resumedOnB(hooksOfA: DecideHooks, sessionId: string) {
    const a = await node(hooksOfA, true);
    const b = await node({ failures: 0 }, true);
    const first = await ide(a, sessionId);
    const call = await escalated(first);
    const lastSeq = String(first.frames.at(-1)!.seq);
    first.ws.terminate();
    await settle(200); // the store's writes are pipelined
    const c = await ide(b, sessionId, { "x-gatehouse-last-seq": lastSeq });
    await c.next((f) => f.type === "session_resumed");
    return { a, c, ...call };
  }

  it("A's store fails to record it: B's IDE gets INTERNAL_ERROR, no ack; resent, it counts", async () => {
    const { a, c, callId, approvalId } = await resumedOnB({ failures: 1 }, "cross-store-fails");
    await failedThenResent(c, a, callId, approvalId);
  });

  it("an operator denied first: B's IDE is refused, not acked, and hears the denial", async () => {
    const hooks: DecideHooks = { failures: 0 };
    hooks.before = (approvalId) => void approvals.deny(ORG, approvalId, { by: "operator@acme", reason: "no" });
    const { a, c, callId } = await resumedOnB(hooks, "cross-decided-first");
    await decidedFirstElsewhere(c, a, callId);
  });

  it("an operator approved first: B's edit is refused, not acked, and B's IDE is sent the original call as runnable", async () => {
    const hooks: DecideHooks = { failures: 0 };
    hooks.before = (approvalId) => void approvals.approve(ORG, approvalId, { by: "operator@acme", reason: "ok" });
    const { a, c, ...call } = await resumedOnB(hooks, "cross-edit-after-approval");
    await editAfterApproval(c, a, call);
  });
});
