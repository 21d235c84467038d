// What an action spends of its agent's hourly money budget (`constraints.max_amount_per_hour`), for budget_check.
//
// It counts the SUM of the amounts the connector receives (every amount found in the params, ./extract.ts), or
// the declared `action.amount` when the params carry none (amount_threshold has already denied a declared amount
// that is neither each amount in the params nor their total). The threshold judges the same total: a batch
// (`amounts: [400, 400, 400]`, `items[].amount`) moves their sum, and the policy cannot tell a batch from one
// amount written twice (`amount` beside `total_amount`): the sum never counts less than what moves, at worst more.
// Amounts are counted in exact millionths (./amounts.ts), each rounded up; one in minor units (`amount_cents`) in
// major units of the action's currency. What cannot be counted fails closed, as the threshold does:
// AMOUNT_UNVERIFIABLE.
import { type ParsedAmount, parseAmount, parseFactAmounts, microsOf, MICRO_DIGITS, whyNot } from "./amounts";
import { BudgetCounters, type BudgetSlot } from "./budget-counters";
import { clipped } from "./clip";
import type { ActionFacts } from "./extract";
import { foldText } from "./normalize";
import type { ActionRequest, AmountPerHour } from "./types";

export interface MoneySpend {
  slot: BudgetSlot;
  currency: string;
  /** The action's total, exactly (for messages). */
  amount: string;
}

/** The money slot to spend, undefined when the budget does not apply to the action, or why it cannot be counted. */
export function moneySpendOf(
  limit: AmountPerHour,
  at: { orgId: string; request: ActionRequest; capability: string; now: Date },
  facts: ActionFacts | undefined,
): MoneySpend | undefined | { unverifiable: string } {
  const { request, capability } = at;
  const declared = request.action.amount;
  const executed = facts ? parseFactAmounts(facts) : [];
  const carries = declared !== undefined || executed.length > 0;
  if (!(limit.actions ? limit.actions.includes(capability) : carries)) return undefined;
  const what = `hourly amount limit ${limit.amount} ${limit.currency}`;
  if (!facts) return { unverifiable: `Amounts cannot be counted (${what}): the params were not read` };
  if (facts.incomplete) return { unverifiable: `Amounts cannot be counted (${what}): ${facts.incomplete}` };

  const counted: ParsedAmount[] =
    executed.length > 0
      ? executed
      : declared !== undefined
        ? [parseAmount({ source: "action.amount", value: declared })]
        : [];
  if (counted.length === 0) return { unverifiable: `Action '${capability}' needs a non-negative amount (${what})` };
  const bad = counted.find((a) => !a.ok);
  if (bad) return { unverifiable: `Amount at ${bad.source} ${whyNot(bad)} (${what})` };

  const wanted = limit.currency.toUpperCase();
  const currencies = facts.currencies.map((c) => foldText(c.value).toUpperCase());
  const other = currencies.find((c) => c !== wanted);
  if (currencies.length === 0 || other !== undefined)
    return {
      unverifiable: `Amount currency '${clipped(other ?? "none")}' cannot be counted against the ${what}`,
    };

  const total = counted.reduce((sum, a) => sum + (a.ok ? microsOf(a.decimal) : 0n), 0n);
  const slot = moneySlotOf(limit, at);
  // An amount past the limit on its own is refused whatever the counter: one past it is enough to say so, and a
  // huge amount never has to fit a number.
  const units = total > BigInt(slot.limit) ? slot.limit + 1 : Number(total);
  return { slot: { ...slot, units }, currency: limit.currency, amount: microsText(total) };
}

/** The agent's money budget counter of this hour (its limit in millionths), whether or not an action spends it. */
export function moneySlotOf(
  limit: AmountPerHour,
  at: { orgId: string; request: Pick<ActionRequest, "uapk_id" | "agent_id">; now: Date },
): BudgetSlot {
  return {
    scope: BudgetCounters.moneyScope(at.orgId, at.request.uapk_id, at.request.agent_id, limit.currency.toUpperCase()),
    window: BudgetCounters.hourWindow(at.now),
    limit: Number(microsOf(decimalLimit(limit.amount))),
  };
}

/** The limit as a decimal: manifests hold at most 6 decimal places (manifest validation), so this is exact. */
const decimalLimit = (amount: number) => amount.toFixed(MICRO_DIGITS);

/** Millionths as an exact decimal text (`1500000n` → `1.5`). */
function microsText(micros: bigint): string {
  const digits = micros.toString().padStart(MICRO_DIGITS + 1, "0");
  const int = digits.slice(0, -MICRO_DIGITS);
  const fraction = digits.slice(-MICRO_DIGITS).replace(/0+$/u, "");
  return fraction ? `${int}.${fraction}` : int;
}
