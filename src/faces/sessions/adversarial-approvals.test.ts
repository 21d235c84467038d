// Adversarial: an approval asked in an agent session belongs to that session. Another session (even the same
// user's, with the identical call) never shares it, and cancelling the session's turn resolves it as
// cancelled so that nobody can approve or use it afterwards — and the audit log records that cancellation.
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ToolCall } from "../../../generated/messages/types";
import type { ServerFrame } from "../../../generated/ws-client";
import { startAgentRuntime, type AgentRuntime } from "../../../examples/agent-runtime/server";
import { ORG_ID, startTestGatehouse, type TestGatehouse } from "../../test-support/gatehouse";
import { operatorRequest } from "../../test-support/http";
import { openTypedIde, type TypedIde } from "./test-support";

let runtime: AgentRuntime;
let gatehouse: TestGatehouse;
let ideToken: string;
const ides: TypedIde[] = [];
const isToolCall = (f: ServerFrame): f is ToolCall => f.type === "tool_call";

beforeAll(async () => {
  runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 2 });
  gatehouse = await startTestGatehouse({
    env: {
      AGENT_RUNTIME_URL: runtime.url,
      GATEHOUSE_MANIFEST_DIR: resolve(import.meta.dirname, "../../../examples/manifests"),
    },
  });
  ideToken = await gatehouse.userTokenFor(ORG_ID, "dev@acme", ["developer"]);
});

afterAll(async () => {
  for (const ide of ides) ide.ws.terminate();
  await gatehouse?.dispose();
  await runtime?.close();
});

async function ide(sessionId: string) {
  const c = await openTypedIde(gatehouse.url, sessionId, ideToken);
  ides.push(c);
  return c;
}

const rest = (method: string, path: string, body?: unknown) => operatorRequest(gatehouse, method, path, body);

async function escalatedCall(c: TypedIde): Promise<ToolCall> {
  c.session.send({ type: "user_message", content: "write file lib/app.dart" });
  const call = await c.next(isToolCall);
  expect(call.approval_id).toMatch(/^appr-/);
  return call;
}

describe("approvals are bound to their session", () => {
  it("the identical call in another session of the same user gets its own approval", async () => {
    const first = await escalatedCall(await ide("bound-a"));
    const second = await escalatedCall(await ide("bound-b"));
    expect(second.approval_id).not.toBe(first.approval_id);
  });

  it("cancelling the turn resolves its pending approval as cancelled; an operator can no longer approve it", async () => {
    const c = await ide("bound-cancel");
    const call = await escalatedCall(c);
    c.session.send({ type: "cancel", reason: "user pressed stop" });
    await expect
      .poll(async () => (await rest("GET", `/api/v1/orgs/${ORG_ID}/approvals/${call.approval_id}`)).body.status)
      .toBe("cancelled");
    const late = await rest("POST", `/api/v1/orgs/${ORG_ID}/approvals/${call.approval_id}/approve`, {
      reason: "too late",
    });
    expect(late.status).toBeGreaterThanOrEqual(400);
    expect(late.status).toBeLessThan(500);
    expect(late.body.status ?? "cancelled").not.toBe("approved");

    // The cancellation is a verdict the audit log shows: one approval record, DENY, decided by gatehouse.
    const approvalRecords = async () => {
      const page = await rest("GET", `/api/v1/orgs/${ORG_ID}/interactions?decision=DENY&limit=500`);
      return ((page.body.records ?? page.body.items ?? []) as Record<string, unknown>[]).filter(
        (r) => r.kind === "approval" && r.approval_id === call.approval_id,
      );
    };
    await expect.poll(async () => (await approvalRecords()).length).toBe(1);
    const [record] = await approvalRecords();
    expect(record).toMatchObject({
      decision: "DENY",
      executed: false,
      meta: { approval_status: "cancelled", decided_by: "gatehouse" },
    });
    expect((await rest("GET", `/api/v1/orgs/${ORG_ID}/interactions/verify`)).body).toMatchObject({ valid: true });
  });
});

// An outside review: a hitl_decision naming another approval_id (another call's, a made-up one, another user's)
// still decided the waiting call's own approval. A decision that names an approval answers that approval only:
// naming any other is refused (INVALID_CALL_ID, no ack) and neither approves nor denies anything.
describe("a decision answers only the approval it names", () => {
  const status = async (approvalId: string) =>
    (await rest("GET", `/api/v1/orgs/${ORG_ID}/approvals/${approvalId}`)).body.status as string;
  const decisionsAtRuntime = (sessionId: string) =>
    runtime.received.filter((r) => r.sessionId.startsWith(`${sessionId}~`) && r.frame.type === "hitl_decision");
  const refusals = (c: TypedIde, messageId: string) =>
    c.frames.filter(
      (f) =>
        f.type === "error" &&
        f.error_code === "INVALID_CALL_ID" &&
        (f.details as { message_id?: string } | undefined)?.message_id === messageId,
    );
  const acked = (c: TypedIde, messageId: string) =>
    c.frames.some((f) => f.type === "ack" && f.message_id === messageId);

  /** Sends the decision and waits for its refusal: a notice without seq, and no ack. */
  async function refused(c: TypedIde, frame: Record<string, unknown>, messageId: string) {
    c.ws.send(JSON.stringify({ type: "hitl_decision", message_id: messageId, ...frame }));
    // Answered either way: a refusal, or (the bug) an ack of a decision that was applied.
    await expect.poll(() => refusals(c, messageId).length + (acked(c, messageId) ? 1 : 0)).toBeGreaterThan(0);
    expect(acked(c, messageId)).toBe(false);
    const [error] = refusals(c, messageId);
    expect(error).toMatchObject({ details: { call_id: frame.call_id, approval_id: frame.approval_id } });
    expect(error && "seq" in error ? error.seq : undefined).toBeUndefined();
  }

  it("another call's, a made-up, a case-changed or a padded approval_id is refused; the right one then works", async () => {
    const other = await escalatedCall(await ide("names-other"));
    const c = await ide("names-own");
    const call = await escalatedCall(c);
    const own = call.approval_id as string;
    const wrong = [other.approval_id, "appr-made-up", own.toUpperCase(), ` ${own}`, `${own} `, `${own}\n`, ""];
    let n = 0;
    for (const approvalId of wrong) {
      for (const decision of ["approve", "reject"] as const) {
        await refused(c, { call_id: call.call_id, decision, approval_id: approvalId }, `wrong-${n++}`);
      }
    }
    await refused(
      c,
      { call_id: call.call_id, decision: "edit", approval_id: other.approval_id, modified_arguments: { path: "x" } },
      "wrong-edit",
    );
    // Nothing was decided: both approvals still wait, the runtime heard no decision, the call still waits.
    await new Promise((r) => setTimeout(r, 300));
    expect(await status(own)).toBe("pending");
    expect(await status(other.approval_id as string)).toBe("pending");
    expect(decisionsAtRuntime("names-own")).toEqual([]);
    expect(c.frames.filter(isToolCall)).toHaveLength(1);

    // The decision naming the call's own approval is applied.
    c.session.send({
      type: "hitl_decision",
      call_id: call.call_id,
      decision: "approve",
      approval_id: own,
      message_id: "right",
    });
    await c.next((f) => f.type === "ack" && f.message_id === "right");
    await expect.poll(() => decisionsAtRuntime("names-own").length).toBe(1);
    expect(decisionsAtRuntime("names-own")[0]?.frame).toMatchObject({ decision: "approve", approval_id: own });
    expect(["approved", "consumed"]).toContain(await status(own));
    expect(await status(other.approval_id as string)).toBe("pending");

    // Decided: a second decision, even naming the right approval, is refused.
    await refused(c, { call_id: call.call_id, decision: "reject", approval_id: own }, "again");
    expect(decisionsAtRuntime("names-own")).toHaveLength(1);
  });

  it("a wrong approval_id cannot deny either", async () => {
    const c = await ide("names-deny");
    const call = await escalatedCall(c);
    await refused(c, { call_id: call.call_id, decision: "reject", approval_id: "appr-0", feedback: "no" }, "deny-1");
    await new Promise((r) => setTimeout(r, 300));
    expect(await status(call.approval_id as string)).toBe("pending");
    expect(decisionsAtRuntime("names-deny")).toEqual([]);
    c.session.send({
      type: "hitl_decision",
      call_id: call.call_id,
      decision: "reject",
      approval_id: call.approval_id as string,
      message_id: "deny-2",
    });
    await c.next((f) => f.type === "ack" && f.message_id === "deny-2");
    await expect.poll(() => status(call.approval_id as string)).toBe("denied");
  });

  it("another user's connection decides neither the victim's call nor, with the victim's approval_id, its own", async () => {
    const victim = await ide("names-victim");
    const victimCall = await escalatedCall(victim);
    const eveToken = await gatehouse.userTokenFor(ORG_ID, "eve@acme", ["developer"]);
    // The same session id is another session for another user (sessions are per user).
    const eve = await openTypedIde(gatehouse.url, "names-victim", eveToken);
    ides.push(eve);
    const eveCall = await escalatedCall(eve);
    expect(eveCall.approval_id).not.toBe(victimCall.approval_id);

    // Eve has no call of the victim's: the victim's call_id is not hers to answer.
    eve.ws.send(
      JSON.stringify({
        type: "hitl_decision",
        call_id: victimCall.call_id === eveCall.call_id ? "call-not-hers" : victimCall.call_id,
        decision: "approve",
        approval_id: victimCall.approval_id,
        message_id: "eve-1",
      }),
    );
    await expect
      .poll(() => eve.frames.some((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID"))
      .toBe(true);
    // Her own waiting call, naming the victim's approval: refused, nothing decided.
    await refused(eve, { call_id: eveCall.call_id, decision: "approve", approval_id: victimCall.approval_id }, "eve-2");
    await new Promise((r) => setTimeout(r, 300));
    expect(await status(victimCall.approval_id as string)).toBe("pending");
    expect(await status(eveCall.approval_id as string)).toBe("pending");
    expect(decisionsAtRuntime("names-victim")).toEqual([]);
  });
});
