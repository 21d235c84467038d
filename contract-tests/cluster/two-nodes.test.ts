// Two gateway nodes on one shared store and one Redis: what one node decides, the other hears.
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ORG_ID } from "../fixtures";
import { createRedisEventBus, type GatehouseEvent } from "../../src/core/events";
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
    executeBody(
      UAPK,
      { type: "payment", tool: "send", params: { invoice, amount: 10 }, counterparty: "acme@vendor.example" },
      extra,
    );

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

  it("a token revoked on A is announced to every node and refused on B at once", async () => {
    const observer = await createRedisEventBus({ redis: nodes.redis, prefix: nodes.prefix });
    const heard: GatehouseEvent[] = [];
    observer.subscribe("token.revoked", (e) => heard.push(e));
    await expect.poll(() => observer.health()).toBe("connected");
    try {
      await registerManifest(nodes.a, {
        uapk_id: "cluster-mailer",
        agent: { id: "cluster-mailer", name: "Cluster Mailer" },
        capabilities: ["email:send"],
        tools: { "email:send": { connector: { type: "echo" } } },
      });
      const issued = await operator(nodes.a).post("/capability-tokens", {
        agent_id: "cluster-mailer",
        uapk_id: "cluster-mailer",
        capabilities: ["email:send"],
      });
      expect(issued.status).toBe(201);
      const send = {
        ...executeBody("cluster-mailer", { type: "email", tool: "send", params: { to: "a@example.com" } }),
        capability_token: issued.body.token,
      };
      expect((await agent(nodes.b).post("/api/v1/gateway/execute", send)).body).toMatchObject({ decision: "ALLOW" });

      expect(
        (await operator(nodes.a).post(`/capability-tokens/${issued.body.token_id}/revoke`, { reason: "leaked" }))
          .status,
      ).toBe(200);
      // No waiting: every node reads revocations from the shared store on each request.
      const refused = await agent(nodes.b).post("/api/v1/gateway/execute", send);
      expect(refused.body).toMatchObject({
        decision: "DENY",
        reasons: [expect.objectContaining({ code: "TOKEN_REVOKED" })],
      });
      await expect
        .poll(() => heard.map((e) => (e.type === "token.revoked" ? e.token_id : "")))
        .toEqual([issued.body.token_id]);
    } finally {
      await observer.close();
    }
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

/** 101 when the upgrade was accepted (then closed at once), else the refusal's status and headers. */
function upgrade(url: string, token: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    ws.once("open", () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      const retryAfter = res.headers["retry-after"];
      resolve({ status: res.statusCode ?? 0, ...(typeof retryAfter === "string" ? { retryAfter } : {}) });
    });
    ws.once("error", (err) => reject(err));
  });
}

describe.runIf(runRedis)("limits shared by two nodes", () => {
  let nodes: TwoNodes;
  beforeAll(async () => {
    nodes = await startTwoNodes({ GATEHOUSE_RATE_LIMIT_PER_API_KEY: "4" });
  });
  afterAll(async () => nodes?.dispose());

  it("the API key's REST quota is one budget across both nodes", async () => {
    const statuses = [];
    for (const node of [nodes.a, nodes.b, nodes.a, nodes.b]) statuses.push((await agent(node).get("/purutos")).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    const refusedOnA = await agent(nodes.a).get("/purutos");
    const refusedOnB = await agent(nodes.b).get("/purutos");
    expect([refusedOnA.status, refusedOnB.status]).toEqual([429, 429]);
    expect(refusedOnB.headers.get("ratelimit-policy")).toBe('"api-key";q=4;w=60');
  });

  it("the 11th WebSocket connection per IP per minute across both nodes is refused with 429", async () => {
    const token = await nodes.a.devIssuer!.mint({ sub: "ide@cluster", org: ORG_ID, roles: ["developer"] });
    const wsUrl = (node: TwoNodes["a"], i: number) => `${node.url.replace("http", "ws")}/ws/cluster-ip-${i}`;
    const accepted = [];
    for (let i = 0; i < 10; i++)
      accepted.push((await upgrade(wsUrl(i % 2 === 0 ? nodes.a : nodes.b, i), token)).status);
    expect(accepted).toEqual(Array(10).fill(101));
    const eleventh = await upgrade(wsUrl(nodes.b, 10), token);
    expect(eleventh.status).toBe(429);
    expect(Number(eleventh.retryAfter)).toBeGreaterThan(0);
    expect((await upgrade(wsUrl(nodes.a, 11), token)).status).toBe(429);
  });
});
