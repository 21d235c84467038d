// Tool calls under the governed-actions engine: the real policy pipeline, approvals store and audit log on an
// in-memory database, the ide-assistant manifest from examples/manifests, the reference agent runtime.
import { once } from "node:events";
import { resolve } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { type ApprovalStore, createApprovalStore } from "../../core/approvals";
import { type AuditLog, createAuditLog } from "../../core/audit";
import { createGovernanceEngine, MAX_PARAMS_VALUES, type SqliteGovernanceEngine } from "../../core/governance";
import { approvalRefusalRecorder } from "../../core/governance/approval-audit-listener";
import { must } from "../../core/must";
import { loadManifestDir } from "../../core/policy/manifest-loader";
import type { Db } from "../../core/store/sqlite";
import { openMigratedDatabase } from "../../core/store/test-support";
import { createGovernedTools } from "./governed-tools";
import {
  type IdeClient,
  isFinal,
  openIde,
  startGateway,
  startIdp,
  type TestGateway,
  type TestIdp,
  tokensOf,
} from "./test-support";

const ORG = "org-ide";
const MANIFESTS = resolve(import.meta.dirname, "../../../examples/manifests");

let idp: TestIdp;
let db: Db;
let approvals: ApprovalStore;
let audit: AuditLog;
let engine: SqliteGovernanceEngine;
let governed: ReturnType<typeof createGovernedTools>;
let g: TestGateway;
const clients: IdeClient[] = [];

beforeAll(async () => {
  idp = await startIdp();
});
afterAll(() => idp.close());

beforeEach(async () => {
  db = await openMigratedDatabase(":memory:");
  approvals = createApprovalStore(db, { pollIntervalMs: 50 });
  audit = createAuditLog(db);
  engine = createGovernanceEngine({ db, approvals, audit });
  const report = loadManifestDir(MANIFESTS, engine.manifests, ORG);
  expect(report.problems).toEqual([]);
  // `reviewer` may be judged by its own manifest after a switch_agent; no other agent may (GATEHOUSE_SESSION_AGENTS).
  governed = createGovernedTools({ engine, approvals, sessionAgents: ["reviewer"] });
  g = await startGateway(idp, {
    toolPolicy: governed.policy,
    approvals: governed.approvals,
    recordOutcome: governed.recordOutcome,
    tokenDelayMs: 5,
  });
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await g.close();
  approvals.close();
  db.close();
});

async function ide(sessionId: string, org: string | null = ORG) {
  const c = await openIde(`${g.wsBase}/ws/${sessionId}`, {
    token: await idp.mint({ sub: "dev@acme", ...(org === null ? {} : { org }) }),
  });
  clients.push(c);
  return c;
}

const atRuntime = (type: string) => g.runtime!.received.filter((r) => r.frame.type === type).map((r) => r.frame);
const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

describe("tool calls under the ide-assistant manifest", () => {
  it("ALLOW: a read tool reaches the IDE runnable, with no approval, and is audited as released", async () => {
    const c = await ide("read-1");
    c.send({ type: "user_message", content: "read src/app.ts" });
    const call = await c.next((f) => f.type === "tool_call");
    expect(call).toMatchObject({ tool_name: "read_file", arguments: { path: "src/app.ts" }, requires_approval: false });
    expect(call.approval_id).toBeUndefined();
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "export {}" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: src/app.ts (read_file).");
    expect(approvals.list(ORG)).toEqual([]);
    const intents = audit.list(ORG, { kind: "intent" }).records;
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({ uapk_id: "ide-assistant", action: { type: "ide", tool: "read_file" } });
  });

  it("the IDE's tool_result is audited as the outcome of the call it answers", async () => {
    const c = await ide("outcome-1");
    c.send({ type: "user_message", content: "read src/app.ts" });
    const call = await c.next((f) => f.type === "tool_call");
    const intent = must(audit.list(ORG, { kind: "intent" }).records[0], "the tool call was recorded as an intent");
    // The session's key (the IDE's id and its owner's tag, ./session-key.ts): unique across users.
    expect(intent.meta).toMatchObject({
      channel: "agent_session",
      session_id: expect.stringMatching(/^outcome-1~[0-9a-f]{32}$/),
      call_id: call.call_id,
    });
    // Released to the IDE, not run yet: no outcome until the IDE says what happened.
    expect(audit.getInteraction(ORG, intent.interaction_id).map((r) => r.kind)).toEqual(["intent"]);

    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "export {}" } });
    await c.next(isFinal);
    const records = audit.getInteraction(ORG, intent.interaction_id);
    expect(records.map((r) => r.kind)).toEqual(["intent", "outcome"]);
    expect(records[1]).toMatchObject({ executed: true, result: { success: true, data: { content: "export {}" } } });
    expect((await audit.verifyChain(ORG)).valid).toBe(true);
  });

  it("a tool_result with an error is audited as a failed outcome of that call", async () => {
    const c = await ide("outcome-error");
    c.send({ type: "user_message", content: "read missing.ts" });
    const call = await c.next((f) => f.type === "tool_call");
    c.send({ type: "tool_result", call_id: call.call_id, error: { code: "ENOENT", message: "no such file" } });
    await c.next(isFinal);
    const [outcome] = audit.list(ORG, { kind: "outcome" }).records;
    expect(outcome).toMatchObject({
      executed: false,
      result: { success: false, error: "no such file", error_code: "ENOENT" },
    });
    const [intent] = audit.list(ORG, { kind: "intent" }).records;
    expect(outcome?.interaction_id).toBe(intent?.interaction_id);
    expect(intent).toBeDefined();
  });

  it("DENY: a tool outside the manifest never reaches the IDE; the runtime hears TOOL_DENIED", async () => {
    const c = await ide("deny-1");
    c.send({ type: "user_message", content: "force-push everything" });
    const err = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(err.details).toMatchObject({ tool_name: "git.force_push", reasons: ["TOOL_NOT_AUTHORIZED"] });
    expect(String(err.message)).toContain("ide:git.force_push");
    await c.next(isFinal);
    expect(c.frames.some((f) => f.type === "tool_call")).toBe(false);
    expect(atRuntime("tool_result")[0]).toMatchObject({ error: { code: "TOOL_DENIED" } });
    expect(approvals.list(ORG)).toEqual([]);
  });

  it("ESCALATE approved in the IDE: one approval, spent when the call is released to the runtime", async () => {
    const c = await ide("approve-ide");
    c.send({ type: "user_message", content: "write file lib/main.dart" });
    const call = await c.next((f) => f.type === "tool_call");
    expect(call).toMatchObject({ tool_name: "write_file", requires_approval: true });
    const approvalId = call.approval_id as string;
    expect(approvals.list(ORG).map((a) => a.approval_id)).toEqual([approvalId]);
    expect(approvals.get(ORG, approvalId)).toMatchObject({
      status: "pending",
      uapk_id: "ide-assistant",
      action: { tool: "write_file" },
    });

    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "d-1" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(atRuntime("hitl_decision")).toEqual([
      expect.objectContaining({
        call_id: call.call_id,
        decision: "approve",
        approval_id: approvalId,
        message_id: "d-1",
      }),
    ]);
    expect(approvals.get(ORG, approvalId)).toMatchObject({ status: "consumed", decided_by: "dev@acme" });
    // The IDE decided itself: it is not sent the call a second time.
    expect(c.frames.filter((f) => f.type === "tool_call")).toHaveLength(1);
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "ok" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: lib/main.dart (write_file).");
  });

  it("ESCALATE approved by an operator: the IDE gets the call as runnable and the runtime the decision", async () => {
    const c = await ide("approve-operator");
    c.send({ type: "user_message", content: "delete old.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    expect(call).toMatchObject({ tool_name: "delete_file", requires_approval: true });
    // A tool_result before the approval is not passed on.
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "deleted" } });
    expect(await c.next((f) => f.type === "error")).toMatchObject({ error_code: "INVALID_CALL_ID" });

    expect(approvals.approve(ORG, call.approval_id as string, { by: "operator@acme", reason: "fine" }).ok).toBe(true);
    const released = await c.next((f) => f.type === "tool_call" && f.requires_approval === false);
    expect(released).toMatchObject({
      call_id: call.call_id,
      approval_id: call.approval_id,
      arguments: { path: "old.txt" },
    });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(atRuntime("hitl_decision")[0]).toMatchObject({ decision: "approve", approval_id: call.approval_id });
    // The IDE can no longer answer it: it was decided.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "reject" });
    expect(
      await c.next(
        (f) => f.type === "error" && f.error_code === "INVALID_CALL_ID" && String(f.message).includes("not waiting"),
      ),
    ).toBeTruthy();
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "deleted" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: old.txt (delete_file).");
  });

  it("ESCALATE denied by an operator: the IDE and the runtime learn the outcome, not the note nor who decided", async () => {
    const c = await ide("deny-operator");
    c.send({ type: "user_message", content: "run rm -rf build" });
    const call = await c.next((f) => f.type === "tool_call");
    const approvalId = call.approval_id as string;
    approvals.deny(ORG, approvalId, { by: "operator@acme", reason: "PRIVATE-OPERATOR-NOTE" });
    const err = await c.next((f) => f.type === "error");
    expect(err).toMatchObject({
      error_code: "TOOL_DENIED",
      message: `Tool run_command was not approved: Approval ${approvalId} was denied`,
      details: { call_id: call.call_id, approval_id: approvalId, reasons: ["APPROVAL_DENIED"] },
    });
    expect(err.details).not.toHaveProperty("decided_by");
    await c.next(isFinal);
    expect(atRuntime("hitl_decision")).toEqual([
      expect.objectContaining({ decision: "reject", feedback: `Approval ${approvalId} was denied` }),
    ]);
    expect(tokensOf(c.frames)).toContain("не выполняю run_command");
    // Nowhere in the session's stream nor at the runtime: the note stays with the operators.
    expect(JSON.stringify(c.frames)).not.toMatch(/PRIVATE-OPERATOR-NOTE|operator@acme/);
    expect(JSON.stringify(atRuntime("hitl_decision"))).not.toMatch(/PRIVATE-OPERATOR-NOTE|operator@acme/);
  });

  it("an IDE approve releases only its own session's call: another session's identical call has its own approval", async () => {
    // Approvals belong to their session: an older idle session with the same call neither shares nor spends it.
    const stale = await ide("shared-stale");
    stale.send({ type: "user_message", content: "write file shared.txt" });
    const staleCall = await stale.next((f) => f.type === "tool_call");
    const c = await ide("shared-active");
    c.send({ type: "user_message", content: "write file shared.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    expect(call.approval_id).not.toBe(staleCall.approval_id);

    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "d-shared" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(c.frames.filter((f) => f.type === "tool_call" && f.requires_approval === true)).toHaveLength(1);
    expect(approvals.get(ORG, staleCall.approval_id as string)?.status).toBe("pending");
    expect(stale.frames.some((f) => f.type === "agent_status" && f.status === "executing_tool")).toBe(false);
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "ok" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: shared.txt (write_file).");
  });

  it("a rejection in the IDE is recorded on the approval", async () => {
    const c = await ide("reject-ide");
    c.send({ type: "user_message", content: "push to origin" });
    const call = await c.next((f) => f.type === "tool_call");
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "reject", feedback: "later" });
    await c.next(isFinal);
    expect(approvals.get(ORG, call.approval_id as string)).toMatchObject({
      status: "denied",
      decided_by: "dev@acme",
      decision_reason: "later",
    });
    expect(atRuntime("hitl_decision")[0]).toMatchObject({ decision: "reject", feedback: "later" });
    // What the ToolCall description promises for the IDE's own rejection: the ack of its decision, no
    // TOOL_DENIED, and the call never becomes runnable.
    expect(c.frames).toContainEqual(expect.objectContaining({ type: "ack", ack_type: "hitl_decision" }));
    expect(c.frames.some((f) => f.type === "error")).toBe(false);
    expect(c.frames.some((f) => f.type === "tool_call" && f.requires_approval === false)).toBe(false);
  });

  it("an IDE's feedback is bounded as an operator's reason over REST: longer is INVALID_MESSAGE, nothing decided", async () => {
    const c = await ide("feedback-bound");
    c.send({ type: "user_message", content: "push to origin" });
    const call = await c.next((f) => f.type === "tool_call");
    const approvalId = call.approval_id as string;
    const reject = { type: "hitl_decision", call_id: call.call_id, decision: "reject" };
    // Stored as the approval's reason, it reached the signed audit record, the console and notifications whole.
    c.send({ ...reject, feedback: "x".repeat(2049), message_id: "over-1" });
    c.send({ ...reject, feedback: "x".repeat(1_000_000), message_id: "over-2" });
    c.send({ ...reject, decision: "edit", modified_arguments: { remote: "origin" }, feedback: "x".repeat(2049) });
    // An approval id longer than REST's path parameter takes names no approval.
    c.send({ ...reject, approval_id: "a".repeat(257) });
    await expect.poll(() => c.frames.filter((f) => f.type === "error").length).toBe(4);
    const errors = c.frames.filter((f) => f.type === "error");
    expect(
      errors.map((e) => [e.error_code, (e.details as { errors: { pointer: string }[] }).errors[0]?.pointer]),
    ).toEqual([
      ["INVALID_MESSAGE", "/feedback"],
      ["INVALID_MESSAGE", "/feedback"],
      ["INVALID_MESSAGE", "/feedback"],
      ["INVALID_MESSAGE", "/approval_id"],
    ]);
    expect(approvals.get(ORG, approvalId)).toMatchObject({
      status: "pending",
      decided_by: null,
      decision_reason: null,
    });
    expect(audit.list(ORG, { kind: "approval" }).records).toEqual([]);
    expect(atRuntime("hitl_decision")).toEqual([]);
    expect(c.frames.some((f) => f.type === "ack" && f.ack_type === "hitl_decision")).toBe(false);

    // At the bound it counts: the approval is denied with it, and the runtime is told it.
    const atBound = "y".repeat(2048);
    c.send({ ...reject, feedback: atBound });
    await c.next(isFinal);
    expect(approvals.get(ORG, approvalId)).toMatchObject({ status: "denied", decision_reason: atBound });
    await expect
      .poll(() => audit.list(ORG, { kind: "approval" }).records.map((r) => r.meta))
      .toEqual([expect.objectContaining({ approval_status: "denied", decided_by: "dev@acme", reason: atBound })]);
    expect(atRuntime("hitl_decision")).toEqual([expect.objectContaining({ decision: "reject", feedback: atBound })]);
  });

  it("edit: the edited arguments go through the policy before the runtime sees them", async () => {
    const c = await ide("edit-1");
    c.send({ type: "user_message", content: "write file a.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    c.send({
      type: "hitl_decision",
      call_id: call.call_id,
      decision: "edit",
      modified_arguments: { path: "b.txt", content: "x" },
    });
    const released = await c.next((f) => f.type === "tool_call" && f.requires_approval === false);
    expect(released.arguments).toEqual({ path: "b.txt", content: "x" });
    expect(released.approval_id).not.toBe(call.approval_id);
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(atRuntime("hitl_decision")[0]).toMatchObject({
      decision: "edit",
      modified_arguments: { path: "b.txt", content: "x" },
      approval_id: released.approval_id,
    });
    expect(approvals.get(ORG, call.approval_id as string)?.status).toBe("denied");
    expect(approvals.get(ORG, released.approval_id as string)).toMatchObject({
      status: "consumed",
      action: { params: { path: "b.txt", content: "x" } },
    });
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "ok" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: b.txt (write_file).");
  });

  it("edit of a call the policy ALLOWed (approval asked only by the runtime) is refused: approve or reject it", async () => {
    // In this org the manifest allows write_file without a human; the IDE is still asked (ALWAYS_APPROVE_TOOLS).
    const ALLOWING = "org-allowing";
    const base = engine.manifests.getByUapkId(ORG, "ide-assistant")!;
    engine.manifests.register(ALLOWING, {
      uapk_id: base.uapk_id,
      agent: base.agent,
      capabilities: base.capabilities,
      constraints: { max_actions_per_hour: 1000 },
      tools: base.tools,
    });
    const c = await ide("edit-allowed", ALLOWING);
    c.send({ type: "user_message", content: "write file a.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    expect(call).toMatchObject({ requires_approval: true, arguments: { path: "a.txt" } });
    expect(call.approval_id).toBeUndefined();
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "edit", modified_arguments: { path: "/etc/x" } });
    const refused = await c.next((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID");
    expect(refused.message).toMatch(/allowed by the policy with its arguments as sent/u);
    await settle();
    expect(atRuntime("hitl_decision")).toEqual([]);
    // Still waiting: the IDE can approve the call as the policy checked it.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(atRuntime("hitl_decision")[0]).toMatchObject({ decision: "approve" });
    expect(atRuntime("hitl_decision")[0]?.modified_arguments).toBeUndefined();
  });

  it("an edit the policy now denies never reaches the runtime as runnable", async () => {
    const c = await ide("edit-denied");
    c.send({ type: "user_message", content: "write file a.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    const manifest = engine.manifests.getByUapkId(ORG, "ide-assistant")!;
    engine.manifests.setStatus(ORG, manifest.manifest_id, "suspended");
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "edit", modified_arguments: { path: "b.txt" } });
    const err = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(err.details).toMatchObject({ reasons: ["MANIFEST_INACTIVE"] });
    await c.next(isFinal);
    expect(atRuntime("hitl_decision")[0]).toMatchObject({ decision: "reject" });
    expect(c.frames.filter((f) => f.type === "tool_call")).toHaveLength(1);
  });

  it("an edit whose arguments hold more values than the engine judges is refused as a frame; the call still waits", async () => {
    // The engine's bound (core/governance/params-size.ts) holds on every door: an IDE's edit (1 MiB frames) reached
    // engine.authorize without it, and 60,000 small members kept a node's event loop busy for seconds. Refused with
    // the frame, before the edit closes the approval, so the IDE may still decide the call.
    const c = await ide("edit-too-large");
    c.send({ type: "user_message", content: "write file a.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    const many = Object.fromEntries(Array.from({ length: MAX_PARAMS_VALUES + 1 }, (_, i) => [`k${i}`, i]));
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "edit", modified_arguments: many });
    const err = await c.next((f) => f.type === "error" && f.error_code === "INVALID_MESSAGE");
    expect(err.details).toMatchObject({ errors: [{ pointer: "/modified_arguments" }] });
    expect(String(err.message)).toContain("more than 10,000 values");
    expect(approvals.get(ORG, call.approval_id as string)?.status).toBe("pending");
    expect(atRuntime("hitl_decision")).toEqual([]);
    // Still the IDE's to decide: an edit within the bound is checked and released.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "edit", modified_arguments: { path: "b.txt" } });
    const released = await c.next((f) => f.type === "tool_call" && f.requires_approval === false);
    expect(released.arguments).toEqual({ path: "b.txt" });
    const recorded = audit.list(ORG, {}).records.map((r) => JSON.stringify(r));
    expect(recorded.some((r) => r.includes('"k10000"'))).toBe(false);
  });

  it("an approved call is re-checked when released: suspended meanwhile → not runnable", async () => {
    const c = await ide("recheck-1");
    c.send({ type: "user_message", content: "write file a.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    engine.manifests.setStatus(ORG, engine.manifests.getByUapkId(ORG, "ide-assistant")!.manifest_id, "suspended");
    approvals.approve(ORG, call.approval_id as string, { by: "operator@acme" });
    const err = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(err.details).toMatchObject({ reasons: ["MANIFEST_INACTIVE"] });
    expect(approvals.get(ORG, call.approval_id as string)?.status).toBe("approved"); // a DENY never spends it
    await c.next(isFinal);
    expect(atRuntime("hitl_decision")[0]).toMatchObject({ decision: "reject" });
  });

  it("a tool_result sent right behind the IDE's own approve waits for the re-check: a call it denies never ran", async () => {
    const c = await ide("approve-then-result");
    c.send({ type: "user_message", content: "write file race.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    engine.manifests.setStatus(ORG, engine.manifests.getByUapkId(ORG, "ide-assistant")!.manifest_id, "suspended");
    // Both frames in one go, before the approval store has been read again.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "written anyway" } });
    expect(await c.next((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID")).toMatchObject({
      details: { call_id: call.call_id },
    });
    // The re-check still runs and its verdict reaches both sides; the runtime never hears the early result.
    const denied = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(denied.details).toMatchObject({ call_id: call.call_id, reasons: ["MANIFEST_INACTIVE"] });
    await c.next(isFinal);
    expect(atRuntime("hitl_decision")[0]).toMatchObject({ call_id: call.call_id, decision: "reject" });
    expect(atRuntime("tool_result")).toEqual([]);
  });

  it("the IDE cannot answer the same escalated call twice", async () => {
    const c = await ide("approve-twice");
    c.send({ type: "user_message", content: "write file twice.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "d-1" });
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "reject", message_id: "d-2" });
    expect(await c.next((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID")).toMatchObject({
      details: { call_id: call.call_id },
    });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(atRuntime("hitl_decision")).toEqual([
      expect.objectContaining({ call_id: call.call_id, decision: "approve", message_id: "d-1" }),
    ]);
    expect(approvals.get(ORG, call.approval_id as string)).toMatchObject({
      status: "consumed",
      decided_by: "dev@acme",
    });
  });

  it("the runtime's current agent picks its own manifest when the org has one", async () => {
    engine.manifests.upsert(ORG, {
      uapk_id: "reviewer",
      agent: { id: "reviewer", name: "Code reviewer" },
      capabilities: ["ide:read_file"],
      tools: { "ide:read_file": { connector: { type: "noop" } } },
    });
    const c = await ide("agent-1");
    c.send({ type: "switch_agent", agent: "reviewer" });
    await c.next((f) => f.type === "agent_switched");
    c.send({ type: "user_message", content: "write file a.txt" });
    const err = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(String(err.message)).toContain("manifest 'reviewer'");
    await settle();
    expect(c.frames.some((f) => f.type === "tool_call")).toBe(false);
  });

  it("an agent the IDE switches to that is no listed session agent is judged by the session manifest", async () => {
    // Another agent's manifest that lets write_file run without a human, with a budget of its own.
    engine.manifests.upsert(ORG, {
      uapk_id: "ci-bot",
      agent: { id: "ci-bot", name: "CI" },
      capabilities: ["ide:write_file"],
      constraints: { max_actions_per_hour: 1 },
      tools: { "ide:write_file": { connector: { type: "noop" } } },
    });
    const c = await ide("switched-away");
    c.send({ type: "switch_agent", agent: "ci-bot" });
    await c.next((f) => f.type === "agent_switched");
    c.send({ type: "user_message", content: "write file a.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    // ide-assistant's rule still holds (a human approves a write), and the approval is ide-assistant's.
    expect(call).toMatchObject({ tool_name: "write_file", requires_approval: true });
    expect(approvals.get(ORG, call.approval_id as string)).toMatchObject({ uapk_id: "ide-assistant" });
  });

  it("a user of another org (no manifest there) is denied, fail closed", async () => {
    const c = await ide("other-org", "org-without-manifests");
    c.send({ type: "user_message", content: "read a.txt" });
    const err = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(err.details).toMatchObject({ reasons: ["MANIFEST_NOT_FOUND"] });
  });

  it("a user with no org at all is denied when no default org is configured", async () => {
    const c = await ide("no-org", null);
    c.send({ type: "user_message", content: "read a.txt" });
    const err = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(err.details).toMatchObject({ reasons: ["NO_ORG"] });
  });

  it("a call whose arguments hold more values than REST accepts is denied before it is judged", async () => {
    // Outside review R22: REST and MCP refused params over the bound, a runtime's tool_call (1 MiB frames) did not.
    const tools = createGovernedTools({ engine, approvals });
    const args = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    const call = { sessionId: "big~0", sub: "dev@acme", orgId: ORG, callId: "c-big", toolName: "read_file" };
    const over = await tools.policy({ ...call, arguments: args(MAX_PARAMS_VALUES + 1) });
    expect(over).toMatchObject({ decision: "DENY", reasons: ["PARAMS_TOO_LARGE"] });
    expect(over.detail).toContain("more than 10,000 values");
    const at = await tools.policy({ ...call, callId: "c-at", arguments: args(MAX_PARAMS_VALUES) });
    expect(at.reasons).not.toContain("PARAMS_TOO_LARGE");
    // Nothing of the refused call reached the audit: the one intent is the accepted call's.
    const calls = audit.list(ORG, {}).records.map((r) => (r.meta as { call_id?: string } | undefined)?.call_id);
    expect(calls).toContain("c-at");
    expect(calls).not.toContain("c-big");
  });

  it("a user with no org is denied even where a default org exists: it never acts in GATEHOUSE_DEFAULT_ORG", async () => {
    // As REST (403 ORG_FORBIDDEN) and MCP do: with a multi-tenant identity provider, a token naming no org is an
    // outsider's, not a member of the default org. (Before: the gateway's default org, here ORG, judged the call.)
    const configured = { defaultOrg: ORG };
    const withDefault = createGovernedTools({ engine, approvals, ...configured });
    const decision = await withDefault.policy({
      sessionId: "no-org~0",
      sub: "dev@acme",
      callId: "c-no-org",
      toolName: "read_file",
      arguments: { path: "a.txt" },
    });
    expect(decision).toMatchObject({ decision: "DENY", reasons: ["NO_ORG"] });
    expect(audit.list(ORG, { kind: "intent" }).records).toEqual([]);
  });
});

describe("the end of a turn", () => {
  it("a cancel drops the calls still waiting for approval, not one already released: its tool_result is audited", async () => {
    // The IDE may already be running a released call when its user presses stop: what it reports is the outcome
    // of a call the engine authorized, and the audit log must not keep an intent without it.
    const c = await ide("cancel-released");
    c.send({ type: "user_message", content: "write file lib/stop.dart" });
    const call = await c.next((f) => f.type === "tool_call");
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "d-stop" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    c.send({ type: "cancel", message_id: "c-stop" });
    await c.next((f) => f.type === "ack" && f.message_id === "c-stop");
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "written" }, message_id: "r-stop" });
    await c.next((f) => (f.type === "ack" && f.message_id === "r-stop") || f.error_code === "INVALID_CALL_ID");
    expect(c.frames.some((f) => f.error_code === "INVALID_CALL_ID")).toBe(false);
    const intent = must(audit.list(ORG, { kind: "intent" }).records[0], "the released call was recorded as an intent");
    await expect
      .poll(() => audit.getInteraction(ORG, intent.interaction_id).map((r) => r.kind))
      .toEqual(["intent", "outcome"]);
    expect(approvals.get(ORG, call.approval_id as string)?.status).toBe("consumed");
  });

  it("the runtime's link drops: its calls waiting for approval are cancelled, a later approve makes none runnable", async () => {
    // A runtime that asks for a command, then dies: the turn that asked is gone. Before, the approval stayed
    // pending, an operator could approve it, and the IDE was handed the command as runnable for no turn at all.
    const dying = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(dying, "listening");
    dying.on("connection", (ws) =>
      ws.on("message", (data) => {
        const frame = JSON.parse(String(data)) as { type: string; content?: string };
        if (frame.type !== "user_message") return;
        if (frame.content === "die") return ws.terminate();
        const call = { call_id: "call-1", tool_name: "run_command", arguments: { command: "rm -rf build" } };
        ws.send(JSON.stringify({ type: "tool_call", ...call, requires_approval: true }));
      }),
    );
    const gateway = await startGateway(idp, {
      withRuntime: false,
      agentRuntimeUrl: `http://127.0.0.1:${(dying.address() as { port: number }).port}`,
      toolPolicy: governed.policy,
      approvals: governed.approvals,
      recordOutcome: governed.recordOutcome,
    });
    try {
      const c = await openIde(`${gateway.wsBase}/ws/runtime-dies`, {
        token: await idp.mint({ sub: "dev@acme", org: ORG }),
      });
      clients.push(c);
      c.send({ type: "user_message", content: "run it" });
      const call = await c.next((f) => f.type === "tool_call");
      const approvalId = call.approval_id as string;
      c.send({ type: "user_message", content: "die" });
      await c.next((f) => f.error_code === "AGENT_UNAVAILABLE");
      await expect.poll(() => approvals.get(ORG, approvalId)?.status).toBe("cancelled");
      expect(approvals.approve(ORG, approvalId, { by: "operator@acme", reason: "late" }).ok).toBe(false);
      c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
      expect(await c.next((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID")).toBeTruthy();
      await settle();
      expect(c.frames.some((f) => f.type === "tool_call" && f.requires_approval === false)).toBe(false);
    } finally {
      await gateway.close();
      dying.close();
    }
  });
});

describe("an IDE decision the approvals store refuses", () => {
  // An operator decides over REST just before the IDE does: the store refuses the IDE's decision (decided first).
  // The call's watcher is held back here (its waitForDecision answers nothing) so the IDE's decision reaches the
  // store after the operator's every time, as it does when the operator wins the race.
  async function gatewayWithHeldWatcher() {
    const held: Parameters<typeof createGovernedTools>[0]["approvals"] = {
      get: (org, id) => approvals.get(org, id),
      approve: (org, id, by) => approvals.approve(org, id, by),
      deny: (org, id, by) => approvals.deny(org, id, by),
      cancel: (org, id, reason) => approvals.cancel(org, id, reason),
      waitForDecision: (_org, _id, _ms, signal) =>
        new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason), { once: true })),
    };
    const tools = createGovernedTools({
      engine,
      approvals: held,
      recordRefusal: approvalRefusalRecorder(engine.manifests, audit),
    });
    await g.close();
    g = await startGateway(idp, { toolPolicy: tools.policy, approvals: tools.approvals, tokenDelayMs: 5 });
  }

  const refusalsOf = (approvalId: string) =>
    audit.list(ORG, { kind: "refusal", limit: 500 }).records.filter((r) => r.approval_id === approvalId);

  it.each([
    ["approve", "approve", {}],
    ["reject", "deny", {}],
    ["edit", "edit", { modified_arguments: { path: "other.txt" } }],
  ] as const)(
    "%s after an operator's deny: refused, audited once as APPROVAL_NOT_PENDING (20 tries)",
    async (decision, attempted, extra) => {
      await gatewayWithHeldWatcher();
      const c = await ide(`store-refused-${decision}`);
      c.send({ type: "user_message", content: "write file raced.txt" });
      const call = await c.next((f) => f.type === "tool_call");
      const approvalId = call.approval_id as string;
      expect(approvals.deny(ORG, approvalId, { by: "operator@acme", reason: "no" }).ok).toBe(true);

      for (let n = 0; n < 20; n++) {
        c.send({ type: "hitl_decision", call_id: call.call_id, decision, ...extra, message_id: `m-${n}` });
        const refused = await c.next(
          (f) => f.type === "error" && (f.details as { message_id?: string } | undefined)?.message_id === `m-${n}`,
        );
        expect(refused).toMatchObject({ error_code: "INVALID_CALL_ID" });
        // The first is the store's refusal (its reason says the approval is denied), audited then; the others find the
        // call no longer waiting, and add nothing.
        if (n === 0) expect(refused.message).toContain("already denied");
        expect(refusalsOf(approvalId)).toHaveLength(1);
      }

      const records = refusalsOf(approvalId);
      expect(records[0]).toMatchObject({
        kind: "refusal",
        decision: "DENY",
        meta: { refused: "APPROVAL_NOT_PENDING", attempted, attempted_by: "dev@acme" },
      });
      expect(approvals.get(ORG, approvalId)).toMatchObject({ status: "denied", decided_by: "operator@acme" });
      expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true });
    },
  );
});
