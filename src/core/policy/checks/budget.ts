// budget_check: the agent's hourly budget (`constraints.max_actions_per_hour`, clock-hour windows), its hourly
// money budget (`constraints.max_amount_per_hour`, ../money-budget.ts) and the token's lifetime budget
// (`constraints.max_actions`). Read-only here; execute consumes the slots atomically (BudgetCounters.tryConsume)
// after the whole pipeline allowed the action.
import { fromMicros } from "../amounts";
import { BudgetCounters, type BudgetSlot, unitsOf } from "../budget-counters";
import { type MoneySpend, moneySlotOf, moneySpendOf } from "../money-budget";
import { type CheckOutcome, defineCheck, deny, isPromise, skip } from "../policy-check";
import type { RiskSnapshot } from "../types";

export const budgetCheck = defineCheck({
  name: "budget_check",
  needs: ["manifest"],
  reads: ["token", "actionFacts"],
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
    // Last, so the hourly slot stays first (the risk snapshot and execute's snapshot read it there).
    let money: MoneySpend | undefined;
    const perHour = manifest.constraints?.max_amount_per_hour;
    if (perHour !== undefined) {
      const spend = moneySpendOf(perHour, input, input.actionFacts);
      if (spend && "unverifiable" in spend) return deny("AMOUNT_UNVERIFIABLE", spend.unverifiable);
      if (spend) {
        money = spend;
        slots.push(spend.slot);
        labels.push("Hourly amount limit");
      }
    }
    if (slots.length === 0) return skip(); // no budget applies
    // The snapshot shows the money budget beside the action budget even for an action that spends none of it: its
    // counter is read last, after the slots'.
    const shown = perHour && hourly !== undefined ? (money?.slot ?? moneySlotOf(perHour, input)) : undefined;
    const view = shown && perHour ? { slot: shown, currency: perHour.currency } : undefined;
    const counts = slots.map((s) => deps.budgets.current(s.scope, s.window));
    if (view && !money) counts.push(deps.budgets.current(view.slot.scope, view.slot.window));
    // Read together (a networked store answers them concurrently); no wait at all when the store answers at once.
    if (counts.some(isPromise))
      return Promise.all(counts).then((current) => judge(slots, labels, current, { hourly, money, view }));
    return judge(slots, labels, counts as number[], { hourly, money, view });
  },
});

/** The money budget the risk snapshot shows: its slot (limit in millionths) and currency. */
interface MoneyView {
  slot: BudgetSlot;
  currency: string;
}

/** The outcome for the (non-empty) slots, each read at `counts[i]`. */
function judge(
  slots: BudgetSlot[],
  labels: string[],
  counts: number[],
  budgets: { hourly: number | undefined; money: MoneySpend | undefined; view: MoneyView | undefined },
): CheckOutcome<"budgetSlots" | "riskSnapshot"> {
  const { hourly, money, view } = budgets;
  // The slots and the snapshot are facts even when the budget is exhausted: a DENY reports them too. The first
  // slot is the agent's hourly one when it has one; the snapshot and the pass details report it.
  const facts: Partial<{ budgetSlots: BudgetSlot[]; riskSnapshot: RiskSnapshot }> = { budgetSlots: slots };
  const [first] = slots;
  const firstCount = counts[0] as number;
  if (hourly !== undefined) {
    // The money counter is the money slot's count, or the one read after the slots' when the action spends none.
    const moneyCount = view && counts[money ? slots.indexOf(money.slot) : slots.length];
    const shown = view && moneyCount !== undefined ? { ...view, current: moneyCount } : undefined;
    facts.riskSnapshot = riskSnapshot(firstCount, hourly, shown);
  }
  // A slot is exhausted when this action's units do not fit: one unit for an action, its amount for money.
  const i = slots.findIndex((slot, n) => (counts[n] as number) + unitsOf(slot) > slot.limit);
  const exhausted = slots[i];
  let outcome: CheckOutcome<"budgetSlots" | "riskSnapshot">;
  if (exhausted && exhausted === money?.slot) outcome = moneyExceeded(money, counts[i] as number);
  else if (exhausted)
    outcome = deny("BUDGET_EXCEEDED", `${labels[i]} exceeded (${counts[i]}/${exhausted.limit})`, {
      current: counts[i],
      limit: exhausted.limit,
    });
  else {
    const details: Record<string, unknown> = first === money?.slot ? {} : { current: firstCount, limit: first?.limit };
    if (money) details.amount = moneyDetails(money, counts[slots.indexOf(money.slot)] as number);
    outcome = { kind: "continue", result: "pass", details };
  }
  // Built just above: it takes the facts in place rather than being copied.
  outcome.facts = facts;
  return outcome;
}

/** The money budget as the trace reports it, in the currency (not the counters' millionths). */
function moneyDetails(money: MoneySpend, count: number) {
  return {
    current: fromMicros(count),
    limit: fromMicros(money.slot.limit),
    amount: Number(money.amount),
    currency: money.currency,
  };
}

function moneyExceeded(money: MoneySpend, count: number): CheckOutcome<"budgetSlots" | "riskSnapshot"> {
  const details = moneyDetails(money, count);
  const { current, limit, currency } = details;
  return deny(
    "BUDGET_EXCEEDED",
    `Hourly amount limit exceeded (${current} ${currency} spent, ${money.amount} more would pass ${limit} ${currency})`,
    details,
  );
}

/**
 * The hourly action budget as the risk snapshot shows it, and the money budget beside it when the manifest has one
 * (`money.current` and its slot's limit in millionths, shown in the currency).
 */
export function riskSnapshot(
  current: number,
  limit: number,
  money?: { slot: Pick<BudgetSlot, "limit">; current: number; currency: string },
): RiskSnapshot {
  return {
    budget_current: current,
    budget_limit: limit,
    budget_percent: percentOf(current, limit),
    ...(money
      ? {
          amount_current: fromMicros(money.current),
          amount_limit: fromMicros(money.slot.limit),
          amount_currency: money.currency,
          amount_percent: percentOf(money.current, money.slot.limit),
        }
      : {}),
  };
}

const percentOf = (current: number, limit: number) => (limit > 0 ? Math.round((current / limit) * 10000) / 100 : 100);
