// The budget check reads counters through a cache (budget-counters.ts): what a decision reports must still follow
// every consumption, refund and rolled-back consumption exactly.
import { describe, expect, it } from "vitest";
import { BudgetCounters, type BudgetSlot } from "./budget-counters";
import { decide } from "./pipeline";
import { emailRequest, engine, ORG, supportBot } from "./test-fixtures";

const hourly = (e: Awaited<ReturnType<typeof engine>>, limit: number): BudgetSlot => ({
  scope: BudgetCounters.hourlyScope(ORG, "customer-support-bot", "customer-support-bot"),
  window: BudgetCounters.hourWindow(e.now()),
  limit,
});

describe("budget reads between consumptions", () => {
  it("a decision sees every consumption and refund made since the previous decision", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot({ constraints: { max_actions_per_hour: 2 } }));
    const budgetOf = async () => (await decide(ORG, emailRequest(), e.deps, { now: e.now() })).risk_snapshot;

    expect(await budgetOf()).toMatchObject({ budget_current: 0, budget_limit: 2 });
    expect(e.budgets.tryConsume([hourly(e, 2)])).toEqual({ ok: true });
    expect(await budgetOf()).toMatchObject({ budget_current: 1 });
    expect(e.budgets.tryConsume([hourly(e, 2)])).toEqual({ ok: true });
    const exhausted = await decide(ORG, emailRequest(), e.deps, { now: e.now() });
    expect(exhausted.decision).toBe("DENY");
    expect(exhausted.reasons.map((r) => r.code)).toEqual(["BUDGET_EXCEEDED"]);

    e.budgets.refund([hourly(e, 2)]);
    const again = await decide(ORG, emailRequest(), e.deps, { now: e.now() });
    expect(again.decision).toBe("ALLOW");
    expect(again.risk_snapshot).toMatchObject({ budget_current: 1 });
  });

  it("a consumption rolled back with its caller's transaction leaves the reported count unchanged", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot({ constraints: { max_actions_per_hour: 5 } }));
    const budgetOf = async () => (await decide(ORG, emailRequest(), e.deps, { now: e.now() })).risk_snapshot;
    expect(await budgetOf()).toMatchObject({ budget_current: 0 });

    const consumeThenFail = e.db.transaction(() => {
      e.budgets.tryConsume([hourly(e, 5)]);
      expect(e.budgets.current(hourly(e, 5).scope, hourly(e, 5).window)).toBe(1); // inside: the write is seen
      throw new Error("the audit intent could not be written");
    });
    expect(() => consumeThenFail()).toThrow("audit intent");
    expect(await budgetOf()).toMatchObject({ budget_current: 0 });
  });
});
