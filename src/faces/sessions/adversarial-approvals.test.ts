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
