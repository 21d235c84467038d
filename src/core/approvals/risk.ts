// The risk picture an operator weighs carries the action's recipients, and an action may name thousands: every
// view of an approval (the operator API, a page of 100 approvals, the console feed, each webhook delivery) would
// carry them all. The picture keeps the first MAX_RISK_RECIPIENTS and says how many there are in all. Nothing is
// lost for the decision: the approval is bound to the whole action (./binding.ts), so using it re-presents every
// recipient, and the policy checks each one again.
import type { components } from "../../../generated/api-types";

export type ApprovalRisk = components["schemas"]["ApprovalRisk"];

/** The spec's bound on ApprovalRisk.recipients. */
export const MAX_RISK_RECIPIENTS = 100;

/** A risk picture as stored by older versions: recipients uncounted, possibly unbounded. */
export type StoredApprovalRisk = Omit<ApprovalRisk, "recipients_total" | "recipients_truncated"> &
  Partial<Pick<ApprovalRisk, "recipients_total" | "recipients_truncated">>;

/**
 * The picture with at most MAX_RISK_RECIPIENTS recipients and their total count. Idempotent: a picture already
 * bounded keeps the total it was counted with (its list holds only the first ones).
 */
export function boundedRisk(risk: StoredApprovalRisk): ApprovalRisk {
  const listed = Array.isArray(risk.recipients) ? risk.recipients : [];
  const total = Math.max(typeof risk.recipients_total === "number" ? risk.recipients_total : 0, listed.length);
  const recipients = listed.length > MAX_RISK_RECIPIENTS ? listed.slice(0, MAX_RISK_RECIPIENTS) : listed;
  return { ...risk, recipients, recipients_total: total, recipients_truncated: total > recipients.length };
}
