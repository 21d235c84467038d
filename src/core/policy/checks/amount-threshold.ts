// amount_threshold: above `policy.amount_threshold.amount` → ESCALATE AMOUNT_THRESHOLD, judged on the action's TOTAL:
// the sum of every amount the connector will receive (../extract.ts: the params `amount`, `amounts` and their
// compounds such as `total_amount` at any depth, and the tool's declared `amount_params`), or the declared
// `action.amount` when the params carry none. A threshold judged per amount would let one action move any sum in
// pieces under it (`amounts: [99, 99, 99, 99, 99]` under 100); the hourly money budget counts the same total
// (../money-budget.ts). The policy cannot tell a batch from one amount written twice (`amount` beside
// `total_amount`): the total never judges less than what moves, at worst more. Amounts are compared as the exact
// decimals they are written as (../amounts.ts); one in minor units (`amount_cents`) in major units of the action's
// currency. Fails closed with AMOUNT_UNVERIFIABLE:
//   - a declared amount (or currency) that is not what the connector receives, threshold or not: the declared
//     amount must equal each amount in the params (one amount written in several places) or their total (a
//     batch), else the policy and the approval would be about another action than the one executed;
//   - under a threshold that applies (the action is listed in `actions`, or carries an amount): no amount, an
//     amount that is not a finite non-negative number, no currency, or a currency other than the threshold's;
//     a minor-unit amount whose currency is unknown, missing or not the only one, or with a fraction of a cent.
import { clipped } from "../clip";
import {
  compareDecimals,
  decimalOf,
  type ParsedAmount,
  parseAmount,
  parseFactAmounts,
  sumDecimals,
  whyNot,
} from "../amounts";
import { foldText } from "../normalize";
import { defineCheck, deny, escalate, pass, skip } from "../policy-check";

export const amountThresholdCheck = defineCheck({
  name: "amount_threshold",
  needs: ["manifest", "actionFacts"],
  run(input) {
    const { amount: declared, currency: declaredCurrency } = input.request.action;
    const facts = input.actionFacts;
    const executed = parseFactAmounts(facts);
    const currencies = facts.currencies.map((c) => ({ source: c.source, value: foldText(c.value).toUpperCase() }));

    const mismatch = declaredMismatch(declared, declaredCurrency, executed, currencies);
    if (mismatch) return unverifiable(mismatch);

    const threshold = input.manifest.policy?.amount_threshold;
    if (!threshold) return skip();
    const carries = declared !== undefined || executed.length > 0;
    const applies = threshold.actions ? threshold.actions.includes(input.capability) : carries;
    if (!applies) return skip();
    const limit = `threshold ${threshold.amount} ${threshold.currency}`;
    if (facts.incomplete) return unverifiable(`Amounts cannot be checked (${limit}): ${facts.incomplete}`);

    // The params' amounts when there are any (the declared one then agrees with them, checked above), else the
    // declared amount.
    const amounts: ParsedAmount[] =
      executed.length > 0
        ? executed
        : declared !== undefined
          ? [parseAmount({ source: "action.amount", value: declared })]
          : [];
    if (amounts.length === 0)
      return unverifiable(`Action '${input.capability}' needs a non-negative amount (${limit})`);
    const bad = amounts.find((a) => !a.ok);
    if (bad) return unverifiable(`Amount at ${bad.source} ${whyNot(bad)} (${limit})`);

    const wanted = threshold.currency.toUpperCase();
    const other = currencies.find((c) => c.value !== wanted);
    if (currencies.length === 0 || other)
      return unverifiable(
        `Amount currency '${clipped(other?.value ?? "none")}' cannot be compared with the threshold in ${threshold.currency}`,
      );

    // Compared as the exact decimals they are written as: "100.000000000000001" is above 100, though the double
    // nearest to it is 100 (an upstream may parse it exactly).
    const total = totalOf(amounts);
    const details = { amount: Number(total), threshold: threshold.amount, currency: threshold.currency };
    if (compareDecimals(total, decimalOf(threshold.amount)) > 0)
      return escalate(
        [
          {
            code: "AMOUNT_THRESHOLD",
            message: `${amounts.length > 1 ? `Total of ${amounts.length} amounts` : "Amount"} ${clipped(total)} ${threshold.currency} exceeds the auto-approve threshold of ${threshold.amount} ${threshold.currency}`,
          },
        ],
        details,
      );
    return pass(details);
  },
});

const unverifiable = (message: string) => deny("AMOUNT_UNVERIFIABLE", message);

type Readable = Extract<ParsedAmount, { ok: true }>;

/** The exact total of amounts that are all readable (checked by the caller). */
const totalOf = (amounts: ParsedAmount[]): string =>
  sumDecimals(amounts.filter((a): a is Readable => a.ok).map((a) => a.decimal));

/** Why the declared amount/currency is not what the connector receives, or undefined when they agree. */
function declaredMismatch(
  declared: number | undefined,
  declaredCurrency: string | undefined,
  executed: ParsedAmount[],
  currencies: { source: string; value: string }[],
): string | undefined {
  if (declared !== undefined && executed.length > 0 && !declaredAgrees(declared, executed)) {
    const differing = executed.find((e) => !e.ok || e.decimal !== decimalOf(Math.abs(declared))) ?? executed[0]!;
    return `Declared amount ${declared} differs from the amount the connector receives at ${differing.source}`;
  }
  if (declaredCurrency !== undefined) {
    const first = currencies.find((c) => c.source === "action.currency");
    const other = currencies.find((c) => c.value !== first?.value);
    if (other)
      return `Declared currency '${clipped(first?.value ?? "")}' differs from the currency the connector receives at ${other.source}`;
  }
  return undefined;
}

/**
 * A declared amount agrees with the params' amounts when it equals each of them (one amount written in several
 * places) or their total (a batch), exactly: a declared 100 beside params "100.000000000000001" is another amount.
 */
function declaredAgrees(declared: number, executed: ParsedAmount[]): boolean {
  if (!Number.isFinite(declared) || declared < 0 || !executed.every((e) => e.ok)) return false;
  const wanted = decimalOf(declared);
  return executed.every((e) => e.ok && e.decimal === wanted) || totalOf(executed) === wanted;
}
