// A hitl_decision the gateway refuses leaves a signed audit record, as a refused decision over REST does
// (src/faces/oversight/e2e/refused-attempts.test.ts): deciding an approval an operator already decided, or naming
// another user's approval. One `refusal` record per approval, user and code however often the IDE repeats it; nothing
// for an approval the user's org does not have. On both store backends; the chain still verifies.
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentRuntime, startAgentRuntime } from "../../../examples/agent-runtime/server";
import type { ToolCall } from "../../../generated/messages/types";
import type { ServerFrame } from "../../../generated/ws-client";
import { gatehouseBackends, type OpenedBackend } from "../../test-support/backends";
import { startTestGatehouse, type TestGatehouse } from "../../test-support/gatehouse";
import { operatorRequest } from "../../test-support/http";
import { openTypedIde, type TypedIde } from "./test-support";

const DEV = "dev@acme";
const backends = await gatehouseBackends("refused decisions in agent sessions");
const isToolCall = (f: ServerFrame): f is ToolCall => f.type === "tool_call";

type Record_ = { kind: string; approval_id: string | null; decision: string; meta: Record<string, unknown> | null };

describe.each(backends)("a refused hitl_decision is audited ($name)", (backend) => {
  let opened: OpenedBackend;
  let runtime: AgentRuntime;
  let g: TestGatehouse;
  const ides: TypedIde[] = [];

  beforeAll(async () => {
    opened = await backend.open();
    runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 2 });
    g = await startTestGatehouse({
      env: {
        ...opened.env,
        AGENT_RUNTIME_URL: runtime.url,
        GATEHOUSE_MANIFEST_DIR: resolve(import.meta.dirname, "../../../examples/manifests"),
      },
    });
  });

  afterAll(async () => {
    for (const ide of ides) ide.ws.terminate();
    await g?.dispose();
    await runtime?.close();
    await opened?.dispose();
  });

  async function ide(sessionId: string, sub = DEV) {
    const c = await openTypedIde(g.url, sessionId, await g.userTokenFor(g.orgId, sub, ["developer"]));
    ides.push(c);
    return c;
  }

  const rest = (method: string, path: string, body?: unknown) => operatorRequest(g, method, path, body);

  async function escalatedCall(c: TypedIde): Promise<ToolCall & { approval_id: string }> {
    c.session.send({ type: "user_message", content: "write file lib/app.dart" });
    const call = await c.next(isToolCall);
    expect(call.approval_id).toMatch(/^appr-/);
    return call as ToolCall & { approval_id: string };
  }

  /** Every refusal record in the org's chain (the export: every record, however many). */
  async function refusals() {
    const text = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/interactions/export`, {
      headers: { authorization: `Bearer ${g.operatorToken}` },
    }).then((r) => r.text());
    return text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record_)
      .filter((r) => r.kind === "refusal");
  }
  const refusalsOf = async (approvalId: string) => (await refusals()).filter((r) => r.approval_id === approvalId);

  /** Sends the decision `times` times, each answered by its refusal (INVALID_CALL_ID, no ack) before the next. */
  async function refusedRepeatedly(c: TypedIde, frame: Record<string, unknown>, times: number, tag: string) {
    for (let n = 0; n < times; n++) {
      const messageId = `${tag}-${n}`;
      c.ws.send(JSON.stringify({ type: "hitl_decision", message_id: messageId, ...frame }));
      // Answered either way: a refusal, or (were it taken) an ack.
      const answer = await c.next(
        (f) =>
          (f.type === "error" && (f.details as { message_id?: string } | undefined)?.message_id === messageId) ||
          (f.type === "ack" && f.message_id === messageId),
      );
      expect(answer).toMatchObject({ type: "error", error_code: "INVALID_CALL_ID" });
    }
  }

  const status = async (approvalId: string) =>
    (await rest("GET", `/api/v1/orgs/${g.orgId}/approvals/${approvalId}`)).body.status as string;

  it("a decision on an approval an operator already denied: one refusal (20 tries), naming it, the user and the code", async () => {
    const c = await ide("refused-late");
    const call = await escalatedCall(c);
    const denied = await rest("POST", `/api/v1/orgs/${g.orgId}/approvals/${call.approval_id}/deny`, {
      reason: "not now",
    });
    expect(denied.status).toBe(200);
    // The IDE hears the operator's verdict; its own decision then comes too late.
    await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");

    const late = { call_id: call.call_id, decision: "approve", approval_id: call.approval_id };
    await refusedRepeatedly(c, late, 20, "late");

    const records = await refusalsOf(call.approval_id);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      approval_id: call.approval_id,
      decision: "DENY",
      meta: { refused: "APPROVAL_NOT_PENDING", attempted: "approve", attempted_by: DEV },
    });
    // Not a verdict: the approval stays denied, and the chain verifies.
    expect(await status(call.approval_id)).toBe("denied");
    expect((await rest("GET", `/api/v1/orgs/${g.orgId}/interactions/verify`)).body).toMatchObject({ valid: true });
  });

  it("a decision naming another user's pending approval: one refusal (20 tries); that approval still waits", async () => {
    const theirs = await escalatedCall(await ide("refused-theirs", "other@acme"));
    const c = await ide("refused-mine");
    const mine = await escalatedCall(c);

    const naming = { call_id: mine.call_id, decision: "approve", approval_id: theirs.approval_id };
    await refusedRepeatedly(c, naming, 20, "theirs");

    const records = await refusalsOf(theirs.approval_id);
    expect(records).toHaveLength(1);
    expect(records[0]?.meta).toMatchObject({ refused: "INVALID_CALL_ID", attempted: "approve", attempted_by: DEV });
    expect(await refusalsOf(mine.approval_id)).toEqual([]);
    expect(await status(theirs.approval_id)).toBe("pending");
    expect(await status(mine.approval_id)).toBe("pending");
    expect((await rest("GET", `/api/v1/orgs/${g.orgId}/interactions/verify`)).body).toMatchObject({ valid: true });
  });

  it("a decision naming no approval the org has, or no call, is refused and recorded nowhere", async () => {
    const c = await ide("refused-unknown");
    const call = await escalatedCall(c);
    const before = (await refusals()).length;
    await refusedRepeatedly(c, { call_id: call.call_id, decision: "reject", approval_id: "appr-made-up" }, 3, "u1");
    await refusedRepeatedly(c, { call_id: "call-made-up", decision: "approve" }, 3, "u2");
    expect((await refusals()).length).toBe(before);
    expect(await status(call.approval_id)).toBe("pending");
  });
});
