// Spending an approval on one execution (the governance engine calls this inside its own transaction).
import type { Db } from "../store/sqlite";
import { approvalBindingHash, bindingDifferences } from "./binding";
import { fromRow, type Row, selectApproval } from "./rows";
import type { ConsumeInput, ConsumeResult } from "./types";

/**
 * Spends an approved approval on one execution. Call it inside the caller's transaction that also writes the
 * audit intent (`db.transaction(() => { consumeForExecution(db, …); audit.appendIntent(…) }).immediate()`), so
 * that either both happen or neither. The conditional UPDATE makes a second consumer find nothing to take,
 * even in another process.
 */
export function consumeForExecution(db: Db, input: ConsumeInput): ConsumeResult {
  const at = input.now ?? new Date();
  const bindingHash = input.bindingHash ?? (input.binding ? approvalBindingHash(input.binding) : undefined);
  if (!bindingHash) throw new Error("consumeForExecution: bindingHash or binding is required");
  // No sweep here: marking approvals expired belongs to the store, whose listeners audit every expiry. An
  // overdue approval is refused below by its `expires_at`, and the store records its expiry on the next read.

  const consumed = db
    .prepare<unknown[], Row>(
      `UPDATE approvals SET status = 'consumed', consumed_at = ?, consumed_by_interaction_id = ?
       WHERE org_id = ? AND approval_id = ? AND status = 'approved' AND expires_at > ? AND binding_hash = ?
       RETURNING *`,
    )
    .get(
      at.toISOString(),
      input.interaction_id ?? null,
      input.org_id,
      input.approval_id,
      at.toISOString(),
      bindingHash,
    );
  if (consumed) return { ok: true, approval: fromRow(consumed) };

  const current = selectApproval(db, input.org_id, input.approval_id);
  const id = input.approval_id;
  if (!current) return { ok: false, code: "APPROVAL_NOT_FOUND", reason: `Approval ${id} not found` };
  const overdue =
    (current.status === "pending" || current.status === "approved") && current.expires_at <= at.toISOString();
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
      return {
        ok: false,
        code: "APPROVAL_BINDING_MISMATCH",
        reason: `Approval ${id} was granted for a different request${differing.length ? ` (${differing.join(", ")} differ)` : ""}; it cannot authorise this one`,
      };
    }
  }
}
