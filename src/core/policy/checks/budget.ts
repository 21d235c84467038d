// budget_check: the agent's hourly budget (`constraints.max_actions_per_hour`, clock-hour windows) and the
// token's lifetime budget (`constraints.max_actions`). Read-only here; execute consumes the slots atomically
// (BudgetCounters.tryConsume) after the whole pipeline allowed the action.
import { BudgetCounters, type BudgetSlot } from "../budget-counters";
import { type CheckOutcome, defineCheck, deny } from "../policy-check";
import type { RiskSnapshot } from "../types";

export const budgetCheck = defineCheck({
  name: "budget_check",
  needs: ["manifest"],
  reads: ["token"],
  provides: ["budgetSlots", "riskSnapshot"],
  async run(input, deps) {
    const { manifest, token } = input;
    const slots: (BudgetSlot & { label: string })[] = [];
    const hourly = manifest.constraints?.max_actions_per_hour;
    if (hourly !== undefined)
      slots.push({
        label: "Hourly action limit",
        scope: BudgetCounters.hourlyScope(input.orgId, manifest.uapk_id, input.request.agent_id),
        window: BudgetCounters.hourWindow(input.now),
        limit: hourly,
      });
    const tokenMax = token?.constraints?.max_actions;
    if (token && tokenMax !== undefined)
      slots.push({
        label: "Token action limit",
        scope: BudgetCounters.tokenScope(token.jti),
        window: 0,
        limit: tokenMax,
      });
    const usage = await Promise.all(
      slots.map(async (s) => ({ ...s, current: await deps.budgets.current(s.scope, s.window) })),
    );
    // The first slot is the agent's hourly one when it has one; the pass details report it.
    const [first] = usage;
    if (!first) return { kind: "continue", result: "skip" }; // no budget applies

    // The slots and the snapshot are facts even when the budget is exhausted: a DENY reports them too.
    const facts: Partial<{ budgetSlots: BudgetSlot[]; riskSnapshot: RiskSnapshot }> = {
      budgetSlots: slots.map(({ scope, window, limit }) => ({ scope, window, limit })),
    };
    if (hourly !== undefined) facts.riskSnapshot = riskSnapshot(first.current, hourly);
    const exhausted = usage.find((u) => u.current >= u.limit);
    const outcome: CheckOutcome = exhausted
      ? deny("BUDGET_EXCEEDED", `${exhausted.label} exceeded (${exhausted.current}/${exhausted.limit})`, {
          current: exhausted.current,
          limit: exhausted.limit,
        })
      : { kind: "continue", result: "pass", details: { current: first.current, limit: first.limit } };
    return { ...outcome, facts };
  },
});

export function riskSnapshot(current: number, limit: number): RiskSnapshot {
  return {
    budget_current: current,
    budget_limit: limit,
    budget_percent: limit > 0 ? Math.round((current / limit) * 10000) / 100 : 100,
  };
}
