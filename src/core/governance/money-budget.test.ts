// constraints.max_amount_per_hour: the total an agent may move per clock hour, across calls. Each call below the
// amount threshold used to pass alone, so 50 payments of 100 under a threshold of 1000 moved 5000 in an hour.
import { describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { BudgetCounters } from "../policy/budget-counters";
import { validateManifest } from "../policy/manifest-validation";
import { ORG, supportBot } from "../policy/test-fixtures";
import type { ActionRequest, ManifestInput } from "../policy/types";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";

const BOT = "pay-bot";

function payBot(constraints: ManifestInput["constraints"], policy?: ManifestInput["policy"], id = BOT): ManifestInput {
  return supportBot({
    uapk_id: id,
    agent: { id, name: "Payments" },
    capabilities: ["payment:send", "payment:quote"],
    tools: { "payment:send": { connector: { type: "echo" } }, "payment:quote": { connector: { type: "echo" } } },
    ...(constraints ? { constraints } : {}),
    ...(policy ? { policy } : {}),
  });
}

const limit1000 = { max_amount_per_hour: { amount: 1000, currency: "USD" } };

function pay(params: Record<string, unknown>, overrides: Partial<ActionRequest> = {}): ActionRequest {
  return {
    uapk_id: BOT,
    agent_id: BOT,
    action: { type: "payment", tool: "send", params: { to: "shop@example.com", currency: "USD", ...params } },
    ...overrides,
  };
}

async function wired(manifest: ManifestInput, org = ORG) {
  const db = await openMigratedDatabase(":memory:");
  const now = () => new Date("2024-12-14T10:30:00Z");
  const approvals = createApprovalStore(db, { now });
  const audit = createAuditLog(db, { now });
  const engine = createGovernanceEngine({ db, now, approvals, audit });
  engine.manifests.register(org, manifest);
  return { engine, approvals, budgets: new BudgetCounters(db) };
}

const budgetEntry = (r: { policy_trace?: { checks: { check: string; details?: unknown }[] } | undefined }) =>
  r.policy_trace?.checks.find((c) => c.check === "budget_check");

describe("max_amount_per_hour", () => {
  it("50 concurrent payments of 100 under a threshold of 1000 move at most 1000 in the hour", async () => {
    const { engine } = await wired(payBot(limit1000, { amount_threshold: { amount: 1000, currency: "USD" } }));
    const results = await Promise.all(Array.from({ length: 50 }, () => engine.execute(ORG, pay({ amount: 100 }))));
    expect(results.filter((r) => r.executed)).toHaveLength(10);
    const denied = results.filter((r) => r.decision === "DENY");
    expect(denied).toHaveLength(40);
    expect(denied.every((r) => r.reasons[0]?.code === "BUDGET_EXCEEDED")).toBe(true);
    expect(budgetEntry(denied[0]!)).toMatchObject({
      result: "fail",
      details: { current: 1000, limit: 1000, amount: 100, currency: "USD" },
    });
  });

  it("evaluate reports the budget without spending it; execute spends it", async () => {
    const { engine } = await wired(payBot(limit1000));
    for (let i = 0; i < 20; i++) expect((await engine.evaluate(ORG, pay({ amount: 600 }))).decision).toBe("ALLOW");
    expect(budgetEntry(await engine.evaluate(ORG, pay({ amount: 600 })))).toMatchObject({
      result: "pass",
      details: { amount: { current: 0, limit: 1000, amount: 600, currency: "USD" } },
    });
    expect((await engine.execute(ORG, pay({ amount: 600 }))).executed).toBe(true);
    const after = await engine.evaluate(ORG, pay({ amount: 600 }));
    expect(after).toMatchObject({ decision: "DENY", reasons: [{ code: "BUDGET_EXCEEDED" }] });
    expect(budgetEntry(after)?.details).toMatchObject({ current: 600, limit: 1000 });
    expect((await engine.execute(ORG, pay({ amount: "400.00" }))).executed).toBe(true);
    expect((await engine.execute(ORG, pay({ amount: 0.01 }))).decision).toBe("DENY");
  });

  it("a DENY spends nothing; an ESCALATE counts once approved and executed", async () => {
    const { engine, approvals } = await wired(
      payBot(limit1000, { amount_threshold: { amount: 500, currency: "USD" } }),
    );
    // Past the limit on its own: denied, nothing taken.
    expect((await engine.execute(ORG, pay({ amount: 5000 }))).decision).toBe("DENY");
    const escalated = await engine.execute(ORG, pay({ amount: 600 }));
    expect(escalated).toMatchObject({ decision: "ESCALATE", executed: false });
    // Pending: nothing spent yet, so 400 + 500 fit.
    expect((await engine.evaluate(ORG, pay({ amount: 500 }))).decision).toBe("ALLOW");
    approvals.approve(ORG, escalated.approval_id!, { by: "ops@acme.com" });
    const released = await engine.execute(ORG, { ...pay({ amount: 600 }), approval_id: escalated.approval_id! });
    expect(released).toMatchObject({ decision: "ALLOW", executed: true });
    expect((await engine.execute(ORG, pay({ amount: 500 }))).reasons[0]?.code).toBe("BUDGET_EXCEEDED");
    expect((await engine.execute(ORG, pay({ amount: 400 }))).executed).toBe(true);
  });

  it("counts the sum of every amount the connector receives, not the largest", async () => {
    const { engine } = await wired(payBot(limit1000));
    const batch = await engine.evaluate(ORG, pay({ amounts: [400, 400, 400] }));
    expect(batch).toMatchObject({ decision: "DENY", reasons: [{ code: "BUDGET_EXCEEDED" }] });
    const items = await engine.evaluate(ORG, pay({ items: [{ amount: 600 }, { amount: "600" }] }));
    expect(items.reasons[0]?.code).toBe("BUDGET_EXCEEDED");
    // The declared amount counts when the params carry none, once when they carry the same.
    expect((await engine.execute(ORG, pay({}, {}))).decision).toBe("ALLOW"); // no amount: not a payment
    const declared = pay({});
    declared.action = { ...declared.action, amount: 700, currency: "USD" };
    expect((await engine.execute(ORG, declared)).executed).toBe(true);
    const both = pay({ amount: 300 });
    both.action = { ...both.action, amount: 300, currency: "USD" };
    expect((await engine.execute(ORG, both)).executed).toBe(true);
    expect((await engine.evaluate(ORG, pay({ amount: 0.000001 }))).reasons[0]?.code).toBe("BUDGET_EXCEEDED");
  });

  it("compares decimal strings exactly and counts below a millionth as a whole one", async () => {
    const { engine } = await wired(payBot(limit1000));
    expect((await engine.evaluate(ORG, pay({ amount: "1000.000000000000001" }))).reasons[0]?.code).toBe(
      "BUDGET_EXCEEDED",
    );
    expect((await engine.execute(ORG, pay({ amount: "999.9999999" }))).executed).toBe(true);
    expect((await engine.evaluate(ORG, pay({ amount: "0" }))).decision).toBe("ALLOW");
    expect((await engine.evaluate(ORG, pay({ amount: "0.0000001" }))).reasons[0]?.code).toBe("BUDGET_EXCEEDED");
  });

  it.each([
    ["1e309", "AMOUNT_UNVERIFIABLE"],
    ["-0", "AMOUNT_UNVERIFIABLE"],
    ["-5", "AMOUNT_UNVERIFIABLE"],
    ["NaN", "AMOUNT_UNVERIFIABLE"],
    ["Infinity", "AMOUNT_UNVERIFIABLE"],
    ["1,000", "AMOUNT_UNVERIFIABLE"],
    ["1_000", "AMOUNT_UNVERIFIABLE"],
    ["0x10", "AMOUNT_UNVERIFIABLE"],
    [-1, "AMOUNT_UNVERIFIABLE"],
    [{ value: 10, VALUE: 5000 }, "AMOUNT_UNVERIFIABLE"],
    [{ value: "50", VALUE: "50.000000000000001" }, "AMOUNT_UNVERIFIABLE"],
    ["999999999999999999999999999999", "BUDGET_EXCEEDED"],
    [1e300, "BUDGET_EXCEEDED"],
    ["１００１", "BUDGET_EXCEEDED"],
  ])("the amount %j is refused (%s) and spends nothing", async (amount, code) => {
    const { engine, budgets } = await wired(payBot(limit1000));
    const r = await engine.execute(ORG, pay({ amount }));
    expect(r).toMatchObject({ decision: "DENY", executed: false, reasons: [{ code }] });
    const scope = BudgetCounters.moneyScope(ORG, BOT, BOT, "USD");
    expect(budgets.current(scope, BudgetCounters.hourWindow(new Date("2024-12-14T10:30:00Z")))).toBe(0);
  });

  it("an amount in another currency, or in none, fails closed", async () => {
    const { engine } = await wired(payBot(limit1000));
    for (const params of [
      { amount: 10, currency: "EUR" },
      { amount: 10, currency: undefined },
      { amount: { value: 10, currency_code: "KWD" } },
      { amount: 10, currency: ["USD", "BTC"] },
    ])
      expect((await engine.evaluate(ORG, pay(params))).reasons[0]?.code).toBe("AMOUNT_UNVERIFIABLE");
    expect((await engine.evaluate(ORG, pay({ amount: 10, currency: " usd " }))).decision).toBe("ALLOW");
  });

  it("a listed action without an amount fails closed; an unlisted one is not counted", async () => {
    const listed = { max_amount_per_hour: { amount: 1000, currency: "USD", actions: ["payment:send"] } };
    const { engine } = await wired(payBot(listed));
    expect((await engine.evaluate(ORG, pay({ reference: "inv-5000" }))).reasons[0]?.code).toBe("AMOUNT_UNVERIFIABLE");
    const quote = pay({ amount: 5000 });
    quote.action = { ...quote.action, tool: "quote" };
    expect((await engine.execute(ORG, quote)).executed).toBe(true);
  });

  it("each agent, and each org, has its own budget", async () => {
    const { engine } = await wired(payBot(limit1000));
    engine.manifests.register(ORG, payBot(limit1000, undefined, "pay-bot-2"));
    engine.manifests.register("org-other", payBot(limit1000));
    expect((await engine.execute(ORG, pay({ amount: 1000 }))).executed).toBe(true);
    expect((await engine.evaluate(ORG, pay({ amount: 1 }))).decision).toBe("DENY");
    expect(
      (await engine.execute(ORG, pay({ amount: 1000 }, { uapk_id: "pay-bot-2", agent_id: "pay-bot-2" }))).executed,
    ).toBe(true);
    expect((await engine.execute("org-other", pay({ amount: 1000 }))).executed).toBe(true);
  });

  it("a limit beside an action budget: both are spent together, or neither", async () => {
    const { engine } = await wired(payBot({ max_actions_per_hour: 2, ...limit1000 }));
    expect((await engine.execute(ORG, pay({ amount: 900 }))).executed).toBe(true);
    // Money exhausted: the action budget is not spent either.
    expect((await engine.execute(ORG, pay({ amount: 200 }))).reasons[0]?.code).toBe("BUDGET_EXCEEDED");
    expect((await engine.execute(ORG, pay({ amount: 100 }))).risk_snapshot).toMatchObject({ budget_current: 2 });
  });

  it("manifest validation: a currency, an amount the counters hold exactly", () => {
    const problems = (limit: unknown) =>
      validateManifest(payBot({ max_amount_per_hour: limit as never })).map((p) => p.pointer);
    expect(problems({ amount: 10.5, currency: "USD" })).toEqual([]);
    expect(problems({ amount: 0.0000001, currency: "USD" })).toEqual(["/constraints/max_amount_per_hour/amount"]);
    expect(problems({ amount: 2e9, currency: "USD" })).toEqual(["/constraints/max_amount_per_hour/amount"]);
    expect(problems({ amount: -1, currency: "USD" })).toEqual(["/constraints/max_amount_per_hour/amount"]);
    expect(problems({ amount: 10, currency: "usd" })).toEqual(["/constraints/max_amount_per_hour/currency"]);
    expect(problems({ amount: 10, currency: "USD", actions: ["x:y"] })).toEqual([
      "/constraints/max_amount_per_hour/actions/0",
    ]);
    expect(problems(100)).toEqual(["/constraints/max_amount_per_hour"]);
  });

  it("a refund gives back what the money slot took", async () => {
    const { budgets } = await wired(payBot(limit1000));
    const slot = { scope: "money:x", window: 1, limit: 1000_000000, units: 250_500000 };
    expect(budgets.tryConsume([slot, slot, slot, slot])).toMatchObject({ ok: false });
    expect(budgets.current("money:x", 1)).toBe(0);
    expect(budgets.tryConsume([slot, slot])).toEqual({ ok: true });
    expect(budgets.current("money:x", 1)).toBe(501_000000);
    budgets.refund([slot]);
    expect(budgets.current("money:x", 1)).toBe(250_500000);
    budgets.refund([slot, slot]);
    expect(budgets.current("money:x", 1)).toBe(0);
  });
});
