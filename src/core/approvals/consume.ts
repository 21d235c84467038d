// Spending an approval on one execution (the governance engine calls this inside its own transaction).
import type { Db } from "../store/sqlite";
import { consumeBindingHash, consumeRefusal } from "./consume-decision";
import { approvalStatements, fromRow, selectApproval } from "./rows";
import type { ConsumeInput, ConsumeResult } from "./types";

/**
 * Spends an approved approval on one execution. Call it inside the caller's transaction that also writes the
 * audit intent (`db.transaction(() => { consumeForExecution(db, …); audit.appendIntent(…) }).immediate()`), so
 * that either both happen or neither. The conditional UPDATE makes a second consumer find nothing to take,
 * even in another process.
 */
export function consumeForExecution(db: Db, input: ConsumeInput): ConsumeResult {
  const at = (input.now ?? new Date()).toISOString();
  const bindingHash = consumeBindingHash(input);
  // No sweep here: marking approvals expired belongs to the store, whose listeners audit every expiry. An
  // overdue approval is refused below by its `expires_at`, and the store records its expiry on the next read.
  const consumed = approvalStatements(db).consume.get({
    org_id: input.org_id,
    approval_id: input.approval_id,
    at,
    binding_hash: bindingHash,
    interaction_id: input.interaction_id ?? null,
  });
  if (consumed) return { ok: true, approval: fromRow(consumed) };
  return consumeRefusal(input, selectApproval(db, input.org_id, input.approval_id), at);
}
