// The governance engine end to end on the shared store, on both backends, and across two PostgreSQL "nodes":
// execute ALLOW, ESCALATE → approve → execute exactly once, budgets exact, one audit chain that verifies.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_PARAMS_VALUES, ParamsTooLargeError } from "../../governance/params-size";
import { createSharedGovernanceEngine, type SharedGovernanceEngine } from "../../governance/shared-engine";
import { ActionUnavailableError } from "../../governance/types";
import { approvalBindingOf } from "../../policy/action-hash";
import { emailRequest, ORG, supportBot } from "../../policy/test-fixtures";
import type { AnyKysely } from "../postgres";
import { createSharedStores } from "../shared";
import { contractBackends, postgresBackend, TEST_SECRET } from "./backends";
import { chainOf } from "./fixtures";

/** A payments agent with an hourly money budget (constraints.max_amount_per_hour). */
const payBot = (amount: number) =>
  supportBot({
    uapk_id: "pay-bot",
    agent: { id: "pay-bot", name: "Payments" },
    capabilities: ["payment:send"],
    tools: { "payment:send": { connector: { type: "echo" } } },
    constraints: { max_amount_per_hour: { amount, currency: "USD" } },
  });
const pay = (amount: number | string) =>
  emailRequest({
    uapk_id: "pay-bot",
    agent_id: "pay-bot",
    action: { type: "payment", tool: "send", params: { amount, currency: "USD" } },
  });

const up = async () => true;
const engineOn = (db: AnyKysely, ping = up) =>
  createSharedGovernanceEngine({ stores: createSharedStores(db, { secret: TEST_SECRET }), ping });
const del = emailRequest({ action: { type: "crm", tool: "delete", params: { record_id: "rec-123" } } });

describe.each(await contractBackends("store contract: engine"))(
  "governance engine on the shared store ($name)",
  (backend) => {
    let engine: SharedGovernanceEngine;
    let db: AnyKysely;
    let close: () => Promise<void>;

    beforeEach(async () => {
      const opened = await backend.open();
      close = opened.close;
      db = opened.db;
      engine = engineOn(opened.db);
      await engine.manifests.register(
        ORG,
        supportBot({ constraints: { max_actions_per_hour: 100, require_human_approval: ["crm:delete"] } }),
      );
    });
    afterEach(() => close());

    it("executes an ALLOW, and an ESCALATE once approved, exactly once; the audit chain verifies", async () => {
      expect(await engine.execute(ORG, emailRequest())).toMatchObject({
        decision: "ALLOW",
        executed: true,
        result: { success: true },
      });

      const first = await engine.execute(ORG, del);
      expect(first).toMatchObject({ decision: "ESCALATE", executed: false });
      const approvalId = first.approval_id!;
      await engine.approvals.decide(ORG, approvalId, { approved: true, decided_by: "ops@acme.com" });
      expect(await engine.execute(ORG, { ...del, approval_id: approvalId })).toMatchObject({
        decision: "ALLOW",
        executed: true,
      });
      expect((await engine.approvals.get(ORG, approvalId))?.status).toBe("consumed");
      expect((await engine.execute(ORG, { ...del, approval_id: approvalId })).executed).toBe(false);

      const chain = await chainOf(engine.audit, ORG);
      expect(chain.map((r) => r.kind)).toEqual(["intent", "outcome", "decision", "intent", "outcome", "decision"]);
      expect((await engine.audit.verify(ORG)).valid).toBe(true);
    });

    it("refuses params over the engine's bound on every door, before anything is decided or recorded", async () => {
      const many = Object.fromEntries(Array.from({ length: MAX_PARAMS_VALUES + 1 }, (_, i) => [`k${i}`, i]));
      const over = { ...emailRequest({ action: { type: "email", tool: "send", params: many } }), idempotency_key: "k" };
      const actions = [{ action_id: "a", ...over.action }];
      const batch = { uapk_id: over.uapk_id, agent_id: over.agent_id, actions, stop_on_deny: false };
      for (const refusal of [
        engine.evaluate(ORG, over),
        engine.authorize(ORG, over),
        engine.execute(ORG, over),
        engine.batch(ORG, batch),
      ])
        await expect(refusal).rejects.toBeInstanceOf(ParamsTooLargeError);
      expect(await chainOf(engine.audit, ORG)).toEqual([]);
      const within = { ...emailRequest(), idempotency_key: "k" };
      expect(await engine.execute(ORG, within)).toMatchObject({ executed: true, risk_snapshot: { budget_current: 1 } });
    });

    it("concurrent ESCALATEs: each approval is stored with a decision record naming it", async () => {
      const deletes = Array.from({ length: 10 }, (_, i) =>
        emailRequest({ action: { type: "crm", tool: "delete", params: { record_id: `rec-${i}` } } }),
      );
      const answers = await Promise.all(deletes.map((request) => engine.execute(ORG, request)));
      const chain = await chainOf(engine.audit, ORG);
      for (const answer of answers) {
        const records = chain.filter((r) => r.interaction_id === answer.interaction_id);
        expect(records.map((r) => [r.kind, r.decision, r.approval_id])).toEqual([
          ["decision", "ESCALATE", answer.approval_id],
        ]);
      }
      const stored = await db.selectFrom("approvals").select("approval_id").execute();
      expect(stored.map((row) => row.approval_id).sort()).toEqual(answers.map((a) => a.approval_id).sort());
      expect((await engine.audit.verify(ORG)).valid).toBe(true);
    });

    it("an ESCALATE whose decision record cannot be written leaves no approval behind", async () => {
      const { escalations } = createSharedStores(db, { secret: TEST_SECRET });
      const input = { org_id: ORG, ...approvalBindingOf(del), reasons: [] };
      await expect(
        escalations(input, () => {
          throw new Error("the decision record cannot be written");
        }),
      ).rejects.toThrow("the decision record cannot be written");
      expect(await db.selectFrom("approvals").select("approval_id").execute()).toEqual([]);
      expect(await chainOf(engine.audit, ORG)).toEqual([]);
    });

    it("a money budget under concurrent payments is never overspent, in amounts past 2^31 millionths", async () => {
      await engine.manifests.register(ORG, payBot(1_000_000));
      const results = await Promise.all(Array.from({ length: 30 }, () => engine.execute(ORG, pay("100000.5"))));
      expect(results.filter((r) => r.executed)).toHaveLength(9);
      const denied = results.filter((r) => !r.executed);
      expect(denied.every((r) => r.reasons[0]?.code === "BUDGET_EXCEEDED")).toBe(true);
      const budget = denied[0]?.policy_trace?.checks.find((c) => c.check === "budget_check");
      expect(budget?.details).toMatchObject({ current: 900004.5, limit: 1_000_000, amount: 100000.5 });
      expect((await engine.execute(ORG, pay(99995.5))).executed).toBe(true);
      expect((await engine.evaluate(ORG, pay("0.000001"))).reasons[0]?.code).toBe("BUDGET_EXCEEDED");
    });

    it("answers a repeated idempotency key with the first answer", async () => {
      const request = { ...emailRequest(), idempotency_key: "once" };
      const first = await engine.execute(ORG, request);
      const again = await engine.execute(ORG, request);
      expect(again).toMatchObject({ interaction_id: first.interaction_id, idempotent: true });
      expect((await chainOf(engine.audit, ORG)).filter((r) => r.kind === "intent")).toHaveLength(1);
    });
  },
);

const pg = await postgresBackend("store contract: engine on two nodes");

describe.skipIf(!pg)("governance engine on two PostgreSQL nodes", () => {
  it("a budget of 20 under 200 concurrent executes spread over two nodes allows exactly 20", async () => {
    const opened = await pg!.open();
    try {
      const [a, b] = opened.nodes(2).map((pool) => engineOn(pool));
      await a!.manifests.register(ORG, supportBot({ constraints: { max_actions_per_hour: 20 } }));
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? a! : b!).execute(ORG, emailRequest())),
      );
      expect(results.filter((r) => r.executed)).toHaveLength(20);
      expect(results.filter((r) => r.decision === "DENY")).toHaveLength(180);
      // 20 intents + 20 outcomes + 180 DENY decisions, in one chain.
      expect(await b!.audit.verify(ORG)).toMatchObject({ valid: true, records: 220 });
    } finally {
      await opened.close();
    }
  });

  it("a money budget of 1000 under 200 concurrent payments of 100 over two nodes moves exactly 1000", async () => {
    const opened = await pg!.open();
    try {
      const [a, b] = opened.nodes(2).map((pool) => engineOn(pool));
      await a!.manifests.register(ORG, payBot(1000));
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? a! : b!).execute(ORG, pay(100))),
      );
      expect(results.filter((r) => r.executed)).toHaveLength(10);
      expect(results.filter((r) => r.reasons[0]?.code === "BUDGET_EXCEEDED")).toHaveLength(190);
    } finally {
      await opened.close();
    }
  });

  it("200 ESCALATEs of 10 actions over two nodes: 10 approvals, each of the 200 decisions names its action's", async () => {
    const opened = await pg!.open();
    try {
      const [a, b] = opened.nodes(2).map((pool) => engineOn(pool));
      await a!.manifests.register(ORG, supportBot({ constraints: { require_human_approval: ["crm:delete"] } }));
      const recordOf = (i: number) => `rec-${i % 10}`;
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 ? a! : b!).execute(
            ORG,
            emailRequest({ action: { type: "crm", tool: "delete", params: { record_id: recordOf(i) } } }),
          ),
        ),
      );
      expect(answers.every((answer) => answer.decision === "ESCALATE")).toBe(true);
      // Identical actions share one pending approval, whichever node asked and however the requests interleaved.
      const approvalOf = new Map<string, Set<string>>();
      answers.forEach((answer, i) => {
        const ids = approvalOf.get(recordOf(i)) ?? new Set<string>();
        approvalOf.set(recordOf(i), ids.add(answer.approval_id!));
      });
      expect([...approvalOf.values()].map((ids) => ids.size)).toEqual(Array(10).fill(1));
      const stored = await opened.db.selectFrom("approvals").select("approval_id").execute();
      expect(stored).toHaveLength(10);
      const chain = await chainOf(b!.audit, ORG);
      expect(chain).toHaveLength(200);
      const byInteraction = new Map(chain.map((record) => [record.interaction_id, record]));
      for (const answer of answers)
        expect(byInteraction.get(answer.interaction_id)?.approval_id).toBe(answer.approval_id);
      expect(await a!.audit.verify(ORG)).toMatchObject({ valid: true, records: 200 });
    } finally {
      await opened.close();
    }
  });

  it("fails closed with 'unavailable' when the database stops answering", async () => {
    const opened = await pg!.open();
    const [pool] = opened.nodes(1);
    const engine = engineOn(pool!, async () => false);
    await engine.manifests.register(ORG, supportBot());
    await pool!.destroy();
    await expect(engine.execute(ORG, emailRequest())).rejects.toBeInstanceOf(ActionUnavailableError);
    await opened.close();
  });
});
