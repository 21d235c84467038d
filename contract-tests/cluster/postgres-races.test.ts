// Races between two nodes on one PostgreSQL database that postgres-nodes.test.ts does not run: one idempotency key
// with several bodies at once, a capability token's lifetime budget spent on both nodes, and an approval approved
// on one node while denied on the other, then re-submitted on both.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRunRedisTests } from "../../src/core/events/redis-availability";
import { postgresForTests } from "../../src/core/store/test-support";
import {
  agent,
  executeBody,
  exportedRecords,
  operator,
  type Receiver,
  registerManifest,
  startReceiver,
} from "../../src/test-support/http";
import { openSharedPostgresStore, type SharedStore, startTwoNodes, type TwoNodes } from "./nodes";

const pgAdmin = await postgresForTests("two-node races on PostgreSQL");
const runRedis = await shouldRunRedisTests("two-node races on PostgreSQL");

describe.runIf(pgAdmin && runRedis)("two nodes racing on one PostgreSQL database", () => {
  let store: SharedStore;
  let nodes: TwoNodes;
  let receiver: Receiver;
  beforeAll(async () => {
    store = await openSharedPostgresStore(pgAdmin!);
    nodes = await startTwoNodes({}, store);
    receiver = await startReceiver({ delayMs: 100 });
  });
  afterAll(async () => {
    await nodes?.dispose();
    await receiver?.close();
  });
  const hook = (path: string) => ({
    connector: { type: "webhook", url: `${receiver.url}${path}`, allowed_hosts: ["127.0.0.1"], allow_private: true },
  });
  const node = (i: number) => (i % 2 === 0 ? nodes.a : nodes.b);

  it("one idempotency key with four bodies on both nodes at once: one run, the winner's body replayed, the rest 409", async () => {
    await registerManifest(nodes.a, {
      uapk_id: "race-idem",
      agent: { id: "race-idem", name: "Race Idem" },
      capabilities: ["notify:send"],
      tools: { "notify:send": hook("/idem") },
    });
    const body = (v: number) =>
      executeBody("race-idem", { type: "notify", tool: "send", params: { v } }, { idempotency_key: "race-key" });
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) => agent(node(i)).post("/api/v1/gateway/execute", body(i % 4))),
    );
    expect(receiver.count("/idem")).toBe(1);
    const allowed = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 409);
    expect(allowed).toHaveLength(10); // every request with the winner's body
    expect(new Set(allowed.map((r) => r.body.interaction_id)).size).toBe(1);
    expect(refused).toHaveLength(30);
    expect(refused.every((r) => r.body.code === "IDEMPOTENCY_KEY_REUSED")).toBe(true);
    expect(refused.every((r) => r.headers.get("content-type")?.includes("application/problem+json"))).toBe(true);
    const { records } = await exportedRecords(nodes.b);
    expect(records.filter((r) => r.kind === "intent" && r.agent_id === "race-idem")).toHaveLength(1);
  });

  it("a capability token of max_actions 2 used 30 times at once over both nodes runs exactly twice", async () => {
    await registerManifest(nodes.a, {
      uapk_id: "race-token",
      agent: { id: "race-token", name: "Race Token" },
      capabilities: ["notify:send"],
      tools: { "notify:send": hook("/token") },
    });
    const issued = await operator(nodes.a).post("/capability-tokens", {
      agent_id: "race-token",
      uapk_id: "race-token",
      capabilities: ["notify:send"],
      constraints: { max_actions: 2 },
    });
    expect(issued.status).toBe(201);
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        agent(node(i)).post("/api/v1/gateway/execute", {
          ...executeBody("race-token", { type: "notify", tool: "send", params: { i } }),
          capability_token: issued.body.token,
        }),
      ),
    );
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(replies.filter((r) => r.body.decision === "ALLOW")).toHaveLength(2);
    expect(receiver.count("/token")).toBe(2);
  });

  it("approved on A while denied on B: one verdict, one record; re-submitted on both nodes it runs at most once", async () => {
    await registerManifest(nodes.a, {
      uapk_id: "race-pay",
      agent: { id: "race-pay", name: "Race Pay" },
      capabilities: ["payment:send"],
      constraints: { require_human_approval: ["payment:send"] },
      tools: { "payment:send": hook("/pay") },
    });
    let approvedCount = 0;
    for (let round = 0; round < 4; round++) {
      const pay = executeBody("race-pay", { type: "payment", tool: "send", params: { round } });
      const escalated = await agent(node(round)).post("/api/v1/gateway/execute", pay);
      const id: string = escalated.body.approval_id;
      const [approve, deny] = await Promise.all([
        operator(nodes.a).post(`/approvals/${id}/approve`, { reason: "fine" }),
        operator(nodes.b).post(`/approvals/${id}/deny`, { reason: "no" }),
      ]);
      expect([approve.status, deny.status].sort()).toEqual([200, 409]);
      const approved = approve.status === 200;
      if (approved) approvedCount++;

      const before = receiver.count("/pay");
      const runs = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          agent(node(i)).post("/api/v1/gateway/execute", { ...pay, approval_id: id }),
        ),
      );
      expect(runs.every((r) => r.status === 200 || r.status === 409)).toBe(true);
      expect(runs.filter((r) => r.body.executed === true)).toHaveLength(approved ? 1 : 0);
      expect(receiver.count("/pay") - before).toBe(approved ? 1 : 0);

      const { records } = await exportedRecords(nodes.a);
      const verdicts = records.filter((r) => r.kind === "approval" && r.approval_id === id);
      expect(verdicts.map((r) => r.meta.approval_status)).toEqual([approved ? "approved" : "denied"]);
    }
    expect(receiver.count("/pay")).toBe(approvedCount);
    expect((await operator(nodes.b).get("/interactions/verify")).body).toMatchObject({ valid: true });
  });
});
