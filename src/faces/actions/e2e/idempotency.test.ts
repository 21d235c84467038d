// 200 concurrent executes with one idempotency key over HTTP: exactly one connector call (counted by the
// local receiver the webhook tool posts to) and 200 consistent answers; the key with another body is a 409.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, exportedRecords, registerManifest, startReceiver, type Receiver } from "./helpers";

let g: TestGatehouse;
let receiver: Receiver;
const UAPK = "notifier-bot";
const CONCURRENT = 200;

beforeAll(async () => {
  // The receiver answers after 300 ms, so all 200 requests are in flight while the first one is executing.
  [g, receiver] = await Promise.all([startTestGatehouse(), startReceiver({ delayMs: 300 })]);
  await registerManifest(g, {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Notifier" },
    capabilities: ["notify:send"],
    constraints: { max_actions_per_hour: 1000 },
    tools: {
      "notify:send": {
        connector: {
          type: "webhook",
          url: `${receiver.url}/slow/notify`,
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

describe("idempotency end to end", () => {
  it(`${CONCURRENT} concurrent executes with one key → one connector call and ${CONCURRENT} consistent answers`, async () => {
    const body = executeBody(
      UAPK,
      { type: "notify", tool: "send", params: { order: "A-1001" } },
      { idempotency_key: "order-A-1001" },
    );
    const replies = await Promise.all(
      Array.from({ length: CONCURRENT }, () => agent(g).post("/api/v1/gateway/execute", body)),
    );

    expect(receiver.count("/slow/notify")).toBe(1);
    expect(replies.map((r) => r.status)).toEqual(Array(CONCURRENT).fill(200));
    const original = replies.find((r) => r.body.idempotent !== true)!.body;
    expect(original).toMatchObject({ decision: "ALLOW", executed: true, result: { success: true } });
    expect(replies.filter((r) => r.body.idempotent !== true)).toHaveLength(1);
    for (const { body: answer } of replies) {
      expect(answer.interaction_id).toBe(original.interaction_id);
      expect(answer.result).toEqual(original.result);
      expect(answer.executed).toBe(true);
      if (answer.idempotent) expect(answer.original_timestamp).toBe(original.timestamp);
    }

    // Later replays get the same answer; the audit log holds one intent and one outcome for the key.
    const later = await agent(g).post("/api/v1/gateway/execute", body);
    expect(later.body).toMatchObject({ idempotent: true, interaction_id: original.interaction_id });
    expect(receiver.count("/slow/notify")).toBe(1);
    const { records } = await exportedRecords(g);
    const keyed = records.filter((r) => r.meta?.idempotency_key === "order-A-1001");
    expect(keyed.map((r) => r.kind)).toEqual(["intent", "outcome"]);
  });

  it("the same key with another body is a 409 problem and runs nothing", async () => {
    const body = executeBody(
      UAPK,
      { type: "notify", tool: "send", params: { order: "B-1" } },
      { idempotency_key: "order-B" },
    );
    expect((await agent(g).post("/api/v1/gateway/execute", body)).status).toBe(200);
    const before = receiver.received.length;
    const changed = executeBody(
      UAPK,
      { type: "notify", tool: "send", params: { order: "B-2" } },
      { idempotency_key: "order-B" },
    );
    const conflict = await agent(g).post("/api/v1/gateway/execute", changed);
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(conflict.body).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
    expect(conflict.body.detail).toContain("order-B");
    expect(receiver.received.length).toBe(before);
  });

  it("keys are the agent's: the same key under another manifest of the same agent is a 409, another agent's is its own", async () => {
    const manifest = (uapk: string, agentId: string) => ({
      uapk_id: uapk,
      agent: { id: agentId, name: uapk },
      capabilities: ["noop:ping"],
      tools: { "noop:ping": { connector: { type: "noop" } } },
    });
    await registerManifest(g, manifest("scope-a", "scope-agent"));
    await registerManifest(g, manifest("scope-b", "scope-agent"));
    await registerManifest(g, manifest("scope-c", "other-agent"));
    const ping = (uapk: string, agentId: string) =>
      agent(g).post("/api/v1/gateway/execute", {
        ...executeBody(uapk, { type: "noop", tool: "ping" }, { idempotency_key: "shared-key" }),
        agent_id: agentId,
      });
    expect((await ping("scope-a", "scope-agent")).body).toMatchObject({ executed: true });
    const sameAgent = await ping("scope-b", "scope-agent");
    expect(sameAgent.status).toBe(409);
    expect(sameAgent.body).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
    expect((await ping("scope-c", "other-agent")).body).toMatchObject({ executed: true });
  });
});
