// The operator approvals list on PostgreSQL pages like the embedded store: `limit`, `agent_id` and the `cursor`
// (keyset on created_at, then approval_id) — following `next_cursor` reaches every approval exactly once, at the
// documented maximum page too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresForTests } from "../../src/core/store/test-support";
import { gatehouseBackends, type OpenedBackend } from "../../src/test-support/backends";
import { agent, escalatingPaymentManifest, executeBody, operator, registerManifest } from "../../src/test-support/http";
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
    await registerManifest(node, escalatingPaymentManifest(BOT, "Paging Bot"));
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

// At the documented maximum page (limit=500) both backends page the same way: a full page AND a next_cursor
// when one more approval exists (the handler reads limit + 1 to know), then the last one — none lost at the
// boundary, none repeated.
const MAX_PAGE = 500;

describe.each(await gatehouseBackends("approvals paging at the maximum page"))(
  "approvals list at limit=500 ($name)",
  (backend) => {
    let opened: OpenedBackend;
    let node: TestGatehouse;
    const ids: string[] = [];

    beforeAll(async () => {
      opened = await backend.open();
      node = await startTestGatehouse({ env: opened.env });
      // Stored through the node's own approvals service (what an ESCALATE creates), one per distinct action.
      for (let i = 0; i <= MAX_PAGE; i++) {
        const approval = await node.approvals.create({
          org_id: node.orgId,
          uapk_id: "max-page-bot",
          agent_id: "max-page-bot",
          action: { type: "payment", tool: "send", params: { n: i } },
          reasons: [{ code: "REQUIRES_APPROVAL", message: "needs a human" }],
        });
        ids.push(approval.approval_id);
      }
    }, 120_000);
    afterAll(async () => {
      await node?.dispose();
      await opened?.dispose();
    });

    it("501 approvals: a full page of 500 with next_cursor, then the last one; each exactly once", async () => {
      const first = await operator(node).get(`/approvals?limit=${MAX_PAGE}&agent_id=max-page-bot`);
      expect(first.status, first.text).toBe(200);
      expect(first.body.items).toHaveLength(MAX_PAGE);
      expect(first.body.next_cursor).toEqual(expect.any(String));
      const second = await operator(node).get(
        `/approvals?limit=${MAX_PAGE}&agent_id=max-page-bot&cursor=${encodeURIComponent(first.body.next_cursor)}`,
      );
      expect(second.status, second.text).toBe(200);
      expect(second.body.items).toHaveLength(1);
      expect(second.body.next_cursor).toBeUndefined();
      const seen = [...first.body.items, ...second.body.items].map((a: { approval_id: string }) => a.approval_id);
      expect(new Set(seen).size).toBe(MAX_PAGE + 1);
      expect([...seen].sort()).toEqual([...ids].sort());
    });

    it("limit=501 is refused as a bad query (400), not clamped", async () => {
      const reply = await operator(node).get(`/approvals?limit=${MAX_PAGE + 1}`);
      expect(reply.status).toBe(400);
    });
  },
);
