// amount_threshold: above `policy.amount_threshold.amount` → ESCALATE AMOUNT_THRESHOLD, judged on EVERY amount
// the action carries: the declared `action.amount` and every amount the connector will receive (../extract.ts:
// the params `amount`, `amounts` and their compounds such as `total_amount` at any depth, and the tool's declared
// `amount_params`), compared as the exact decimals they are written as (../amounts.ts); one in minor units
// (`amount_cents`) in major units of the action's currency. Fails closed with
// AMOUNT_UNVERIFIABLE:
//   - a declared amount (or currency) that differs from one the connector receives, threshold or not: the
//     policy and the approval would be about another action than the one executed;
//   - under a threshold that applies (the action is listed in `actions`, or carries an amount): no amount, an
//     amount that is not a finite non-negative number, no currency, or a currency other than the threshold's;
//     a minor-unit amount whose currency is unknown, missing or not the only one, or with a fraction of a cent.
import { clipped } from "../clip";
import { compareDecimals, decimalOf, type ParsedAmount, parseAmount, parseFactAmounts, whyNot } from "../amounts";
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

    const amounts: ParsedAmount[] = [
      ...(declared !== undefined ? [parseAmount({ source: "action.amount", value: declared })] : []),
      ...executed,
    ];
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
    const largest = largestOf(amounts);
    const details = { amount: largest.value, threshold: threshold.amount, currency: threshold.currency };
    if (compareDecimals(largest.decimal, decimalOf(threshold.amount)) > 0)
      return escalate(
        [
          {
            code: "AMOUNT_THRESHOLD",
            message: `Amount ${clipped(largest.decimal)} ${threshold.currency} exceeds the auto-approve threshold of ${threshold.amount} ${threshold.currency}`,
          },
        ],
        details,
      );
    return pass(details);
  },
});

const unverifiable = (message: string) => deny("AMOUNT_UNVERIFIABLE", message);

type Readable = Extract<ParsedAmount, { ok: true }>;

/** The largest of the (non-empty, all readable) amounts, compared exactly. */
function largestOf(amounts: ParsedAmount[]): Readable {
  const readable = amounts.filter((a): a is Readable => a.ok);
  return readable.reduce((max, a) => (compareDecimals(a.decimal, max.decimal) > 0 ? a : max));
}

/** Why the declared amount/currency is not what the connector receives, or undefined when they agree. */
function declaredMismatch(
  declared: number | undefined,
  declaredCurrency: string | undefined,
  executed: ParsedAmount[],
  currencies: { source: string; value: string }[],
): string | undefined {
  // Exactly: a declared 100 beside params "100.000000000000001" is another amount.
  const declaredDecimal = declared !== undefined && Number.isFinite(declared) ? decimalOf(Math.abs(declared)) : "";
  if (declared !== undefined)
    for (const e of executed)
      if (!e.ok || declared < 0 || e.decimal !== declaredDecimal)
        return `Declared amount ${declared} differs from the amount the connector receives at ${e.source}`;
  if (declaredCurrency !== undefined) {
    const first = currencies.find((c) => c.source === "action.currency");
    const other = currencies.find((c) => c.value !== first?.value);
    if (other)
      return `Declared currency '${clipped(first?.value ?? "")}' differs from the currency the connector receives at ${other.source}`;
  }
  return undefined;
}
