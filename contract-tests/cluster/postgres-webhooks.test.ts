// Approval notifications on a cluster: two nodes on one PostgreSQL database and one Redis hear every approval
// event, yet a subscription made on node A gets each event exactly once, signed with the secret node A sealed
// (node B opens it with the shared GATEHOUSE_SECRET), whichever node the approval was escalated and decided on.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../../src/core/notifications";
import { shouldRunRedisTests } from "../../src/core/events/redis-availability";
import { postgresForTests } from "../../src/core/store/test-support";
import { agent, executeBody, operator, registerManifest } from "../../src/test-support/http";
import { openSharedPostgresStore, startTwoNodes, type TwoNodes } from "./nodes";

const pgAdmin = await postgresForTests("webhooks across two nodes on PostgreSQL");
const runRedis = await shouldRunRedisTests("webhooks across two nodes on PostgreSQL");
const SECRET = "whsec-cluster-0123456789abcdef0123456789";
const BOT = "cluster-notify-bot";

describe.runIf(pgAdmin && runRedis)("webhooks across two nodes on PostgreSQL", () => {
  let nodes: TwoNodes;
  let server: Server;
  let receiverUrl: string;
  const received: { type: string; approvalId: string; verified: boolean }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        const event = JSON.parse(body) as { type: string; approval: { approval_id: string } };
        const signature = String(req.headers["gatehouse-signature"]);
        received.push({
          type: event.type,
          approvalId: event.approval.approval_id,
          verified: verifySignature(SECRET, signature, body).ok,
        });
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const store = await openSharedPostgresStore(pgAdmin!);
    nodes = await startTwoNodes({ GATEHOUSE_WEBHOOK_PRIVATE_HOSTS: "127.0.0.1" }, store);
    await registerManifest(nodes.a, {
      uapk_id: BOT,
      agent: { id: BOT, name: "Cluster Notify Bot" },
      capabilities: ["payment:send"],
      constraints: { require_human_approval: ["payment:send"] },
      tools: { "payment:send": { connector: { type: "echo" } } },
    });
  });
  afterAll(async () => {
    await nodes?.dispose();
    server?.closeAllConnections();
    await new Promise((ok) => server?.close(ok));
  });

  it("a subscription made on A: each event of an approval escalated on B and decided on A arrives once, signed", async () => {
    const created = await operator(nodes.a).post("/webhooks", { url: `${receiverUrl}/in`, secret: SECRET });
    expect(created.status, created.text).toBe(201);
    // Node B lists the subscription node A made: one shared store.
    const listed = await operator(nodes.b).get("/webhooks");
    expect(listed.body.items.map((w: { webhook_id: string }) => w.webhook_id)).toContain(created.body.webhook_id);

    const asked = await agent(nodes.b).post(
      "/api/v1/gateway/execute",
      executeBody(BOT, { type: "payment", tool: "send", params: { invoice: "c-1" } }),
    );
    expect(asked.body).toMatchObject({ decision: "ESCALATE" });
    const approvalId: string = asked.body.approval_id;
    expect((await operator(nodes.a).post(`/approvals/${approvalId}/approve`, {})).status).toBe(200);

    await expect.poll(() => received.filter((r) => r.approvalId === approvalId).length, { timeout: 10_000 }).toBe(2);
    // Both nodes heard both events; give a duplicate the time it would need to arrive.
    await new Promise((r) => setTimeout(r, 1000));
    const mine = received.filter((r) => r.approvalId === approvalId);
    expect(mine.map((r) => r.type).sort()).toEqual(["approval.created", "approval.decided"]);
    expect(mine.every((r) => r.verified)).toBe(true);

    // The delivery log reads the same from either node: one delivery per event, each delivered on its first try.
    for (const node of [nodes.a, nodes.b]) {
      const log = await operator(node).get(`/webhooks/deliveries?approval_id=${approvalId}`);
      expect(log.status).toBe(200);
      expect(log.body.items).toHaveLength(2);
      for (const delivery of log.body.items) expect(delivery).toMatchObject({ status: "delivered" });
    }
  });
});
