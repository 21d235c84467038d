// Two gateway nodes on one shared store and one Redis: what one node decides, the other hears.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRunRedisTests } from "../../src/core/events/redis-availability";
import { agent, executeBody, operator, registerManifest } from "../../src/faces/actions/e2e/helpers";
import { startTwoNodes, type TwoNodes } from "./nodes";

const runRedis = await shouldRunRedisTests("two-node cluster tests");
const UAPK = "cluster-payments-bot";

describe.runIf(runRedis)("two nodes, one Redis", () => {
  let nodes: TwoNodes;

  beforeAll(async () => {
    // Waiters re-read the store only every 60 s here: within a 20 s long-poll only the event can wake them.
    nodes = await startTwoNodes({ GATEHOUSE_APPROVAL_RECHECK_MS: "60000" });
    await registerManifest(nodes.a, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Cluster Payments Bot" },
      capabilities: ["payment:send"],
      constraints: { require_human_approval: ["payment:send"] },
      tools: { "payment:send": { connector: { type: "echo" } } },
    });
  });
  afterAll(async () => nodes?.dispose());

  const pay = (invoice: string, extra: Record<string, unknown> = {}) =>
    executeBody(UAPK, { type: "payment", tool: "send", params: { invoice, amount: 10 }, counterparty: "acme@vendor.example" }, extra);

  it("ESCALATE on A, approve on B: A's long-poll wakes with the decision, re-execute on A → ALLOW once", async () => {
    const escalated = await agent(nodes.a).post("/api/v1/gateway/execute", pay("inv-1"));
    expect(escalated.body).toMatchObject({ decision: "ESCALATE" });
    const approvalId: string = escalated.body.approval_id;

    const started = Date.now();
    const poll = agent(nodes.a).get(`/api/v1/gateway/approvals/${approvalId}?wait=20`);
    // The long-poll is parked on A before B decides (a pending read on A proves the approval is visible there).
    expect((await agent(nodes.a).get(`/api/v1/gateway/approvals/${approvalId}`)).body.status).toBe("pending");
    const approved = await operator(nodes.b).post(`/approvals/${approvalId}/approve`, { reason: "checked on B" });
    expect(approved.status).toBe(200);
    const woken = await poll;
    expect(woken.body).toMatchObject({ approval_id: approvalId, status: "approved" });
    console.info(`long-poll on A woke ${Date.now() - started} ms after it started (decision taken on B)`);

    const run = await agent(nodes.a).post("/api/v1/gateway/execute", pay("inv-1", { approval_id: approvalId }));
    expect(run.body).toMatchObject({ decision: "ALLOW", executed: true });
    const again = await agent(nodes.b).post("/api/v1/gateway/execute", pay("inv-1", { approval_id: approvalId }));
    expect(again.body).toMatchObject({ executed: false });
  });

  it("a denial on A wakes a long-poll parked on B", async () => {
    const escalated = await agent(nodes.b).post("/api/v1/gateway/execute", pay("inv-2"));
    const approvalId: string = escalated.body.approval_id;
    const poll = agent(nodes.b).get(`/api/v1/gateway/approvals/${approvalId}?wait=20`);
    expect((await agent(nodes.b).get(`/api/v1/gateway/approvals/${approvalId}`)).body.status).toBe("pending");
    expect((await operator(nodes.a).post(`/approvals/${approvalId}/deny`, { reason: "no" })).status).toBe(200);
    expect((await poll).body).toMatchObject({ status: "denied" });
  });
});
