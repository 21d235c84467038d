// A manifest updated (PUT) on one node governs the other node's next decision at once: node B decides with the
// manifest it read before (its parsed copy is reused while the row is unchanged), then node A tightens the policy,
// and B's next evaluate is a DENY naming version 2. The change is announced on the event bus (manifest.changed).
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRunRedisTests, TEST_REDIS_URL } from "../../src/core/events/redis-availability";
import { eventChannel } from "../../src/core/events/redis-bus";
import { postgresForTests } from "../../src/core/store/test-support";
import { agent, executeBody, operator, operatorRequest, registerManifest } from "../../src/test-support/http";
import { openSharedPostgresStore, type SharedStore, startTwoNodes, type TwoNodes } from "./nodes";

const pgAdmin = await postgresForTests("manifest update on two nodes");
const runRedis = await shouldRunRedisTests("manifest update on two nodes");

const manifest = (capabilities: string[]) => ({
  uapk_id: "two-node-put",
  manifest_id: "m-two-node-put",
  agent: { id: "two-node-put", name: "Two Node Put" },
  capabilities,
  tools: Object.fromEntries(capabilities.map((c) => [c, { connector: { type: "echo" } }])),
});
const sendEmail = executeBody("two-node-put", { type: "email", tool: "send", params: { to: "a@example.com" } });

describe.runIf(pgAdmin && runRedis)("a manifest updated on one node, decided on the other", () => {
  let store: SharedStore;
  let nodes: TwoNodes;
  beforeAll(async () => {
    store = await openSharedPostgresStore(pgAdmin!);
    nodes = await startTwoNodes({}, store);
  });
  afterAll(async () => {
    await nodes?.dispose();
  });

  it("node B's next evaluate applies the body node A wrote (ALLOW → DENY), and the change is announced", async () => {
    expect((await registerManifest(nodes.a, manifest(["crm:read", "email:send"]))).status).toBe(201);
    for (const node of [nodes.b, nodes.b, nodes.a])
      expect((await agent(node).post("/api/v1/gateway/evaluate", sendEmail)).body.decision).toBe("ALLOW");

    const listener = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    const heard: unknown[] = [];
    listener.on("message", (_channel, message) => heard.push(JSON.parse(message)));
    await listener.subscribe(eventChannel(nodes.prefix));
    try {
      const put = await operatorRequest(
        nodes.a,
        "PUT",
        `/api/v1/orgs/${nodes.a.orgId}/manifests/m-two-node-put`,
        manifest(["crm:read"]),
      );
      expect(put.status, put.text).toBe(200);
      expect(put.body.version).toBe(2);

      const onB = await agent(nodes.b).post("/api/v1/gateway/evaluate", sendEmail);
      expect(onB.body.decision).toBe("DENY");
      const check = onB.body.policy_trace.checks.find((c: { check: string }) => c.check === "manifest_validation");
      expect(check.details).toMatchObject({ manifest_id: "m-two-node-put", manifest_version: 2 });
      expect((await operator(nodes.b).get("/manifests/m-two-node-put")).body.version).toBe(2);

      await expect
        .poll(() => heard, { timeout: 5_000 })
        .toContainEqual(expect.objectContaining({ type: "manifest.changed", manifest_id: "m-two-node-put" }));
    } finally {
      listener.disconnect();
    }
  });
});
