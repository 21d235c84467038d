// ESCALATE → operator decision → agent re-submission, over HTTP against a real Gatehouse. The tool is a
// webhook to a local receiver, so "executed exactly once" is counted where the side effect lands.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import {
  agent,
  executeBody,
  exportedRecords,
  operator,
  registerManifest,
  startReceiver,
  type Receiver,
} from "./helpers";

let g: TestGatehouse;
let receiver: Receiver;
const UAPK = "payments-bot";

const pay = (
  params: Record<string, unknown>,
  counterparty = "acme@vendor.example",
  extra: Record<string, unknown> = {},
) => executeBody(UAPK, { type: "payment", tool: "send", params, counterparty }, extra);

beforeAll(async () => {
  [g, receiver] = await Promise.all([startTestGatehouse(), startReceiver()]);
  await registerManifest(g, {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Payments Bot" },
    capabilities: ["payment:send"],
    constraints: { max_actions_per_hour: 50, require_human_approval: ["payment:send"] },
    policy: { counterparty_blocklist: ["*@blocked.example"] },
    tools: {
      "payment:send": {
        connector: {
          type: "webhook",
          url: `${receiver.url}/payments/{invoice}`,
          allowed_hosts: ["127.0.0.1"],
          allow_private: true,
        },
      },
    },
  });
});

afterAll(async () => {
  await g?.dispose();
  await receiver?.close();
});

describe("approvals end to end", () => {
  it("ESCALATE → operator approves → agent polls → re-submits → runs exactly once; a second re-submit is refused", async () => {
    const first = await agent(g).post("/api/v1/gateway/execute", pay({ invoice: "inv-1", amount: 50 }));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      decision: "ESCALATE",
      executed: false,
      reasons: [{ code: "REQUIRES_APPROVAL" }],
    });
    const approvalId: string = first.body.approval_id;
    expect(approvalId).toMatch(/^appr-/);

    // An identical pending request does not create a second approval.
    const again = await agent(g).post("/api/v1/gateway/execute", pay({ invoice: "inv-1", amount: 50 }));
    expect(again.body.approval_id).toBe(approvalId);

    // The agent long-polls with its API key while the operator approves with a bearer token.
    const poll = agent(g).get(`/api/v1/gateway/approvals/${approvalId}?wait=5`);
    const approved = await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "invoice checked" });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: "approved", decided_by: "operator@contract" });
    expect((await poll).body).toMatchObject({ approval_id: approvalId, status: "approved" });
    expect(receiver.count("/payments/inv-1")).toBe(0);

    const run = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-1", amount: 50 }, undefined, { approval_id: approvalId }),
    );
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ decision: "ALLOW", executed: true, result: { success: true } });
    expect(receiver.count("/payments/inv-1")).toBe(1);
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("consumed");

    const replay = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-1", amount: 50 }, undefined, { approval_id: approvalId }),
    );
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ decision: "ESCALATE", executed: false });
    expect(replay.body.approval_id).not.toBe(approvalId); // a new attempt needs a new approval
    expect(receiver.count("/payments/inv-1")).toBe(1);

    // The operator's decision is in the audit chain, in the interaction that escalated.
    const { records } = await exportedRecords(g);
    const decision = records.find((r) => r.kind === "approval" && r.approval_id === approvalId);
    expect(decision).toMatchObject({
      interaction_id: first.body.interaction_id,
      decision: "ALLOW",
      meta: { approval_status: "approved", decided_by: "operator@contract", reason: "invoice checked" },
    });
    const executed = records
      .filter((r) => r.interaction_id === run.body.interaction_id)
      .map((r) => [r.kind, r.approval_id]);
    expect(executed).toEqual([
      ["intent", approvalId],
      ["outcome", approvalId],
    ]);
    expect((await operator(g).get("/interactions/verify")).body).toMatchObject({ valid: true });
  });

  it("concurrent re-submissions of one approval: one runs, every other one is an audited ESCALATE", async () => {
    const first = await agent(g).post("/api/v1/gateway/execute", pay({ invoice: "inv-race" }));
    await operator(g).post(`/approvals/${first.body.approval_id}/approve`);
    const body = pay({ invoice: "inv-race" }, undefined, { approval_id: first.body.approval_id });
    const replies = await Promise.all(Array.from({ length: 5 }, () => agent(g).post("/api/v1/gateway/execute", body)));
    expect(replies.filter((r) => r.status === 200 && r.body.executed === true)).toHaveLength(1);
    expect(receiver.count("/payments/inv-race")).toBe(1);
    // A loser that lost the spend itself is decided again: the same answer as one whose check came after the
    // spend (it was a 409 APPROVAL_ALREADY_CONSUMED that left no record).
    const { records } = await exportedRecords(g);
    for (const r of replies.filter((r) => !(r.status === 200 && r.body.executed === true))) {
      expect(r.status, r.text).toBe(200);
      expect(r.body).toMatchObject({ decision: "ESCALATE", executed: false });
      const check = r.body.policy_trace.checks.find((c: { check: string }) => c.check === "approval_check");
      expect(check.details).toMatchObject({ approval_id: first.body.approval_id, problem: "approval is consumed" });
      expect(records.some((rec) => rec.interaction_id === r.body.interaction_id)).toBe(true);
    }
  });

  it("deny: the agent learns it, and the denied approval never executes", async () => {
    const first = await agent(g).post("/api/v1/gateway/execute", pay({ invoice: "inv-2" }));
    const approvalId = first.body.approval_id;
    const denied = await operator(g).post(`/approvals/${approvalId}/deny`, { reason: "not our vendor" });
    expect(denied.body).toMatchObject({ status: "denied", reason: "not our vendor" });
    expect((await agent(g).get(`/api/v1/gateway/approvals/${approvalId}`)).body.status).toBe("denied");
    // Deciding twice is a conflict.
    expect((await operator(g).post(`/approvals/${approvalId}/approve`)).status).toBe(409);

    const retry = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-2" }, undefined, { approval_id: approvalId }),
    );
    expect(retry.body).toMatchObject({ decision: "ESCALATE", executed: false });
    expect(receiver.count("/payments/inv-2")).toBe(0);
    const { records } = await exportedRecords(g);
    expect(records.find((r) => r.kind === "approval" && r.approval_id === approvalId)).toMatchObject({
      decision: "DENY",
      meta: { approval_status: "denied", reason: "not our vendor" },
    });
  });

  it("an approval replayed with another counterparty or other params is refused and stays unspent", async () => {
    const first = await agent(g).post("/api/v1/gateway/execute", pay({ invoice: "inv-3", amount: 10 }));
    const approvalId = first.body.approval_id;
    await operator(g).post(`/approvals/${approvalId}/approve`);

    const otherCounterparty = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-3", amount: 10 }, "mallory@vendor.example", { approval_id: approvalId }),
    );
    const otherParams = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-3", amount: 10_000 }, undefined, { approval_id: approvalId }),
    );
    for (const refused of [otherCounterparty, otherParams]) {
      expect(refused.body).toMatchObject({ decision: "ESCALATE", executed: false });
      const check = refused.body.policy_trace.checks.find((c: { check: string }) => c.check === "approval_check");
      expect(check.details).toMatchObject({
        approval_id: approvalId,
        problem: "approval was given for a different action",
      });
    }
    expect(receiver.count("/payments/inv-3")).toBe(0);
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("approved");

    const exact = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-3", amount: 10 }, undefined, { approval_id: approvalId }),
    );
    expect(exact.body).toMatchObject({ decision: "ALLOW", executed: true });
    expect(receiver.count("/payments/inv-3")).toBe(1);
  });

  it("an approval never turns a DENY into an ALLOW", async () => {
    const first = await agent(g).post("/api/v1/gateway/execute", pay({ invoice: "inv-4" }));
    const approvalId = first.body.approval_id;
    await operator(g).post(`/approvals/${approvalId}/approve`);

    // A blocked counterparty is denied whatever approval comes with it.
    const blocked = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-4" }, "eve@blocked.example", { approval_id: approvalId }),
    );
    expect(blocked.body).toMatchObject({
      decision: "DENY",
      executed: false,
      reasons: [{ code: "COUNTERPARTY_BLOCKED" }],
    });

    // The exact approved action is denied while the manifest is suspended; the approval is not spent.
    const manifests = await operator(g).get("/manifests");
    const manifestId = manifests.body.items.find((m: { uapk_id: string }) => m.uapk_id === UAPK).manifest_id;
    expect((await operator(g).post(`/manifests/${manifestId}/suspend`)).status).toBe(200);
    const suspended = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-4" }, undefined, { approval_id: approvalId }),
    );
    expect(suspended.body).toMatchObject({ decision: "DENY", executed: false });
    expect(receiver.count("/payments/inv-4")).toBe(0);
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("approved");

    expect((await operator(g).post(`/manifests/${manifestId}/activate`)).status).toBe(200);
    const resumed = await agent(g).post(
      "/api/v1/gateway/execute",
      pay({ invoice: "inv-4" }, undefined, { approval_id: approvalId }),
    );
    expect(resumed.body).toMatchObject({ decision: "ALLOW", executed: true });
    expect(receiver.count("/payments/inv-4")).toBe(1);
  });
});

describe("an approval of a tool with redacted params", () => {
  const CARDS = "cards-bot";
  const charge = (params: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    executeBody(CARDS, { type: "payment", tool: "charge", params }, extra);

  beforeAll(async () => {
    await registerManifest(g, {
      uapk_id: CARDS,
      agent: { id: CARDS, name: "Cards Bot" },
      capabilities: ["payment:charge"],
      constraints: { max_actions_per_hour: 50, require_human_approval: ["payment:charge"] },
      tools: {
        "payment:charge": {
          redact: ["params.card_number", "params.holder.*"],
          connector: {
            type: "webhook",
            url: `${receiver.url}/charges/{invoice}`,
            allowed_hosts: ["127.0.0.1"],
            allow_private: true,
          },
        },
      },
    });
  });

  it("is shown redacted to operators and to the agent, and still runs with the params it was bound to", async () => {
    const params = { invoice: "inv-card", card_number: "4111111111111111", holder: { name: "Ann", zip: "75001" } };
    const first = await agent(g).post("/api/v1/gateway/execute", charge(params));
    expect(first.body).toMatchObject({ decision: "ESCALATE" });
    const approvalId: string = first.body.approval_id;
    const shown = { invoice: "inv-card", card_number: "[redacted]", holder: { name: "[redacted]", zip: "[redacted]" } };

    const views = [
      (await operator(g).get(`/approvals/${approvalId}`)).body,
      (await operator(g).get("/approvals?status=pending")).body.items.find(
        (a: { approval_id: string }) => a.approval_id === approvalId,
      ),
      (await agent(g).get(`/api/v1/gateway/approvals/${approvalId}`)).body,
      (await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "ok" })).body,
    ];
    for (const view of views) expect(view.action.params).toEqual(shown);
    expect(JSON.stringify(views)).not.toContain("4111111111111111");

    // The approval stays bound to the whole params: the agent's re-submission runs with the real card number.
    const run = await agent(g).post("/api/v1/gateway/execute", charge(params, { approval_id: approvalId }));
    expect(run.body).toMatchObject({ decision: "ALLOW", executed: true });
    const delivered = receiver.received.find((r) => r.path === "/charges/inv-card");
    expect(delivered?.body).toContain("4111111111111111");
  });
});
