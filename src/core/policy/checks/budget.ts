// budget_check: the agent's hourly budget (`constraints.max_actions_per_hour`, clock-hour windows) and the
// token's lifetime budget (`constraints.max_actions`). Read-only here; execute consumes the slots atomically
// (BudgetCounters.tryConsume) after the whole pipeline allowed the action.
import { BudgetCounters, type BudgetSlot } from "../budget-counters";
import type { PolicyCheck } from "../pipeline";

export const budgetCheck: PolicyCheck = {
  name: "budget_check",
  run(ctx, deps) {
    const manifest = ctx.manifest!;
    const slots: (BudgetSlot & { label: string })[] = [];
    const hourly = manifest.constraints?.max_actions_per_hour;
    if (hourly !== undefined)
      slots.push({
        label: "Hourly action limit",
        scope: BudgetCounters.hourlyScope(ctx.orgId, manifest.uapk_id, ctx.request.agent_id),
        window: BudgetCounters.hourWindow(ctx.now),
        limit: hourly,
      });
    const tokenMax = ctx.token?.constraints?.max_actions;
    if (ctx.token && tokenMax !== undefined)
      slots.push({ label: "Token action limit", scope: BudgetCounters.tokenScope(ctx.token.jti), window: 0, limit: tokenMax });
    if (slots.length === 0) return { result: "skip" };

    ctx.budgetSlots = slots.map(({ scope, window, limit }) => ({ scope, window, limit }));
    const usage = slots.map((s) => ({ ...s, current: deps.budgets.current(s.scope, s.window) }));
    if (hourly !== undefined) {
      const current = usage[0].current;
      ctx.riskSnapshot = riskSnapshot(current, hourly);
    }
    const exhausted = usage.find((u) => u.current >= u.limit);
    if (exhausted)
      return {
        result: "fail",
        reasons: [{ code: "BUDGET_EXCEEDED", message: `${exhausted.label} exceeded (${exhausted.current}/${exhausted.limit})` }],
        details: { current: exhausted.current, limit: exhausted.limit },
      };
    const first = usage[0];
    return { result: "pass", details: { current: first.current, limit: first.limit } };
  },
};

export function riskSnapshot(current: number, limit: number) {
  return {
    budget_current: current,
    budget_limit: limit,
    budget_percent: limit > 0 ? Math.round((current / limit) * 10000) / 100 : 100,
  };
}
