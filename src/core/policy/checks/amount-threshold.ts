// amount_threshold: above `policy.amount_threshold.amount` → ESCALATE AMOUNT_THRESHOLD. Fails closed: when
// the threshold applies (the action is listed in `actions`, or carries an amount) but the amount is missing,
// not a finite non-negative number, or in another currency, the action is denied AMOUNT_UNVERIFIABLE —
// the original let a missing amount pass.
import { defineCheck, deny, escalate, pass, skip } from "../policy-check";

export const amountThresholdCheck = defineCheck({
  name: "amount_threshold",
  needs: ["manifest"],
  run(input) {
    const threshold = input.manifest.policy?.amount_threshold;
    const { amount, currency } = input.request.action;
    if (!threshold) return skip();
    const applies = threshold.actions ? threshold.actions.includes(input.capability) : amount !== undefined;
    if (!applies) return skip();

    const unverifiable = (message: string) => deny("AMOUNT_UNVERIFIABLE", message);
    if (typeof amount !== "number" || !Number.isFinite(amount) || amount < 0)
      return unverifiable(`Action '${input.capability}' needs a non-negative amount (threshold ${threshold.amount} ${threshold.currency})`);
    if (!currency || currency.toUpperCase() !== threshold.currency.toUpperCase())
      return unverifiable(`Amount currency '${currency ?? "none"}' cannot be compared with the threshold in ${threshold.currency}`);

    const details = { amount, threshold: threshold.amount, currency: threshold.currency };
    if (amount > threshold.amount)
      return escalate(
        [
          {
            code: "AMOUNT_THRESHOLD",
            message: `Amount ${amount} ${threshold.currency} exceeds the auto-approve threshold of ${threshold.amount} ${threshold.currency}`,
          },
        ],
        details,
      );
    return pass(details);
  },
});
