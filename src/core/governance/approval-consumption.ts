// Approval consumption: an approved approval authorises exactly one execution of exactly the request it was
// granted for. It is spent inside the reservation's transaction (with the budget and the audit intent), so a
// refused or crashed call never spends it, and two concurrent re-submissions never both run.
import { consumeForExecution } from "../approvals";
import type { ApprovalBinding } from "../approvals/binding";
import type { Db } from "../store/sqlite";
import { ActionConflictError } from "./types";

export interface ApprovalToConsume {
  org_id: string;
  approval_id: string;
  binding: ApprovalBinding;
  interaction_id: string;
  now: Date;
}

/** Spends the approval or throws an ActionConflictError with the store's reason (the caller's savepoint rolls back). */
export function consumeApprovalOrThrow(db: Db, input: ApprovalToConsume): void {
  const consumed = consumeForExecution(db, input);
  if (!consumed.ok) throw new ActionConflictError(consumed.reason, consumed.code);
}
