// The consume decision, pure, for both backends: which binding an execution must match, and — when the single
// conditional UPDATE that spends an approval took nothing — why (same codes and wording on SQLite and
// PostgreSQL). The statements themselves live with each backend (./consume.ts, src/core/store/shared/approvals.ts).
import { approvalBindingHash, bindingDifferences } from "./binding";
import type { Approval, ConsumeInput, ConsumeResult } from "./types";

/** The binding hash the approval must carry: the one given, or the hash of the request being executed now. */
export function consumeBindingHash(input: ConsumeInput): string {
  const bindingHash = input.bindingHash ?? (input.binding ? approvalBindingHash(input.binding) : undefined);
  if (!bindingHash) throw new Error("consumeForExecution: bindingHash or binding is required");
  return bindingHash;
}

/**
 * Why an approval could not be spent, from its row as it is now (`current`, null when it does not exist in the
 * org) at the instant `atIso` of the attempt. An overdue pending / approved row counts as expired even before
 * the store has marked it (expiry is the store's, which audits it).
 */
export function consumeRefusal(input: ConsumeInput, current: Approval | null, atIso: string): ConsumeResult {
  const id = input.approval_id;
  if (!current) return { ok: false, code: "APPROVAL_NOT_FOUND", reason: `Approval ${id} not found` };
  const overdue = (current.status === "pending" || current.status === "approved") && current.expires_at <= atIso;
  switch (overdue ? "expired" : current.status) {
    case "pending":
      return { ok: false, code: "APPROVAL_PENDING", reason: `Approval ${id} is still waiting for an operator` };
    case "denied":
      return {
        ok: false,
        code: "APPROVAL_DENIED",
        reason: `Approval ${id} was denied${current.decision_reason ? `: ${current.decision_reason}` : ""}`,
      };
    case "expired":
      return { ok: false, code: "APPROVAL_EXPIRED", reason: `Approval ${id} expired at ${current.expires_at}` };
    case "cancelled":
      return { ok: false, code: "APPROVAL_DENIED", reason: `Approval ${id} was cancelled with its session` };
    case "consumed":
      return {
        ok: false,
        code: "APPROVAL_ALREADY_CONSUMED",
        reason: `Approval ${id} was already used at ${current.consumed_at}`,
      };
    default: {
      // Approved and in time, so the binding is what differs.
      const differing = input.binding ? bindingDifferences(current, input.binding) : [];
      const what = differing.length ? ` (${differing.join(", ")} differ)` : "";
      return {
        ok: false,
        code: "APPROVAL_BINDING_MISMATCH",
        reason: `Approval ${id} was granted for a different request${what}; it cannot authorise this one`,
      };
    }
  }
}
