// The operator approvals list on PostgreSQL pages like the embedded store: `limit`, `agent_id` and the `cursor`
// (keyset on created_at, then approval_id) — following `next_cursor` reaches every approval exactly once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresForTests } from "../../src/core/store/test-support";
import { agent, executeBody, operator, registerManifest } from "../../src/test-support/http";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";
import { openSharedPostgresStore, type SharedStore } from "./nodes";

const pgAdmin = await postgresForTests("PostgreSQL approvals paging");
const BOT = "pg-paging-bot";

describe.runIf(pgAdmin)("approvals list on PostgreSQL", () => {
  let store: SharedStore;
  let node: TestGatehouse;
  const created: string[] = [];

  beforeAll(async () => {
    store = await openSharedPostgresStore(pgAdmin!);
    node = await startTestGatehouse({ env: store.env });
    await registerManifest(node, {
      uapk_id: BOT,
      agent: { id: BOT, name: "Paging Bot" },
      capabilities: ["payment:send"],
      constraints: { max_actions_per_hour: 100, require_human_approval: ["payment:send"] },
      tools: {
        "payment:send": {
          connector: {
            type: "webhook",
            url: "http://127.0.0.1:9/pay",
            allowed_hosts: ["127.0.0.1"],
            allow_private: true,
          },
        },
      },
    });
    for (let i = 0; i < 5; i++) {
      const reply = await agent(node).post(
        "/api/v1/gateway/execute",
        executeBody(BOT, { type: "payment", tool: "send", params: { n: i } }),
      );
      expect(reply.body).toMatchObject({ decision: "ESCALATE" });
      created.push(reply.body.approval_id);
    }
  });
  afterAll(async () => {
    await node?.dispose();
    await store?.dispose();
  });

  it("follows next_cursor to the end: every approval once, none repeated", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const query = `?limit=2&agent_id=${BOT}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const reply = await operator(node).get(`/approvals${query}`);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...reply.body.items.map((a: { approval_id: string }) => a.approval_id));
      cursor = reply.body.next_cursor;
      if (cursor === undefined) break;
    }
    expect(cursor).toBeUndefined();
    expect([...seen].sort()).toEqual([...created].sort());
    expect(new Set(seen).size).toBe(created.length);
  });
});
