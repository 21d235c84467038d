// budget_check: the agent's hourly budget (`constraints.max_actions_per_hour`, clock-hour windows) and the
// token's lifetime budget (`constraints.max_actions`). Read-only here; execute consumes the slots atomically
// (BudgetCounters.tryConsume) after the whole pipeline allowed the action.
import { BudgetCounters, type BudgetSlot } from "../budget-counters";
import { type CheckOutcome, defineCheck, deny, isPromise, skip } from "../policy-check";
import type { RiskSnapshot } from "../types";

export const budgetCheck = defineCheck({
  name: "budget_check",
  needs: ["manifest"],
  reads: ["token"],
  provides: ["budgetSlots", "riskSnapshot"],
  run(input, deps) {
    const { manifest, token } = input;
    // The slots execute would consume, and beside them the names a DENY gives them.
    const slots: BudgetSlot[] = [];
    const labels: string[] = [];
    const hourly = manifest.constraints?.max_actions_per_hour;
    if (hourly !== undefined) {
      slots.push({
        scope: BudgetCounters.hourlyScope(input.orgId, manifest.uapk_id, input.request.agent_id),
        window: BudgetCounters.hourWindow(input.now),
        limit: hourly,
      });
      labels.push("Hourly action limit");
    }
    const tokenMax = token?.constraints?.max_actions;
    if (token && tokenMax !== undefined) {
      slots.push({ scope: BudgetCounters.tokenScope(token.jti), window: 0, limit: tokenMax });
      labels.push("Token action limit");
    }
    if (slots.length === 0) return skip(); // no budget applies
    const counts = slots.map((s) => deps.budgets.current(s.scope, s.window));
    // Read together (a networked store answers them concurrently); no wait at all when the store answers at once.
    if (counts.some(isPromise)) return Promise.all(counts).then((current) => judge(slots, labels, current, hourly));
    return judge(slots, labels, counts as number[], hourly);
  },
});

/** The outcome for the (non-empty) slots, each read at `counts[i]`. */
function judge(
  slots: BudgetSlot[],
  labels: string[],
  counts: number[],
  hourly: number | undefined,
): CheckOutcome<"budgetSlots" | "riskSnapshot"> {
  // The slots and the snapshot are facts even when the budget is exhausted: a DENY reports them too. The first
  // slot is the agent's hourly one when it has one; the snapshot and the pass details report it.
  const facts: Partial<{ budgetSlots: BudgetSlot[]; riskSnapshot: RiskSnapshot }> = { budgetSlots: slots };
  const [first] = slots;
  const firstCount = counts[0] as number;
  if (hourly !== undefined) facts.riskSnapshot = riskSnapshot(firstCount, hourly);
  const i = slots.findIndex((slot, n) => (counts[n] as number) >= slot.limit);
  const exhausted = slots[i];
  const outcome: CheckOutcome<"budgetSlots" | "riskSnapshot"> = exhausted
    ? deny("BUDGET_EXCEEDED", `${labels[i]} exceeded (${counts[i]}/${exhausted.limit})`, {
        current: counts[i],
        limit: exhausted.limit,
      })
    : { kind: "continue", result: "pass", details: { current: firstCount, limit: first?.limit } };
  // Built just above: it takes the facts in place rather than being copied.
  outcome.facts = facts;
  return outcome;
}

export function riskSnapshot(current: number, limit: number): RiskSnapshot {
  return {
    budget_current: current,
    budget_limit: limit,
    budget_percent: limit > 0 ? Math.round((current / limit) * 10000) / 100 : 100,
  };
}
