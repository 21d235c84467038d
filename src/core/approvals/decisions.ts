// The write transactions of the embedded approvals store: asking (create), deciding (approve / deny) and
// cancelling. Each runs IMMEDIATE, expires what is overdue first, and calls the decision listeners (the audit
// log) inside the transaction that records the verdict: no verdict is stored without its record.
import type { Db } from "../store/sqlite";
import { approvalBindingHash } from "./binding";
import { approvalStatements, fromRow, insertRow, pendingRow, selectApproval, selectPendingByBinding } from "./rows";
import type { Approval, CreateApprovalInput, DecideResult } from "./types";

export interface WriteDeps {
  now: () => Date;
  /** Expires the org's overdue approvals (inside the caller's transaction: a savepoint). */
  expire: (org_id: string) => number;
  /** The same, then the one approval too if it is overdue at `at` (beyond the batch the sweep takes). */
  expireOne: (org_id: string, approval_id: string, at: Date) => void;
  /** Runs the decision listeners on approvals that reached a verdict. */
  notify: (approvals: Approval[]) => Approval[];
}

/** A new pending approval, or the existing pending one for the same binding (no duplicate for a retry). */
export type PendingCreator = (input: CreateApprovalInput) => { approval: Approval; isNew: boolean };

/**
 * The create transaction, made once per store (better-sqlite3 builds a transaction's wrappers when it is made).
 * Called inside a caller's transaction it is a savepoint of it, and the caller's COMMIT makes it durable.
 */
export function pendingCreator(db: Db, deps: WriteDeps & { defaultTtlMs: number }): PendingCreator {
  const create = db.transaction((input: CreateApprovalInput, binding_hash: string) => {
    deps.expire(input.org_id);
    const existing = selectPendingByBinding(db, input.org_id, binding_hash);
    if (existing) return { approval: existing, isNew: false };
    const row = pendingRow(input, binding_hash, deps.now(), input.ttl_ms ?? deps.defaultTtlMs);
    insertRow(db, row);
    return { approval: fromRow(row), isNew: true };
  });
  // The binding is hashed before the write lock is taken.
  return (input) => create.immediate(input, approvalBindingHash(input));
}

/** An operator's verdict on a pending approval; why not, when it was not pending any more. */
export function decidePending(
  db: Db,
  deps: WriteDeps,
  org_id: string,
  approval_id: string,
  status: "approved" | "denied",
  decision: { by: string; reason?: string | undefined },
): DecideResult {
  return db
    .transaction((): DecideResult => {
      // The org's sweep stops at one batch; the approval decided here is expired first even when a burst left it
      // beyond that batch (its record says expired). The decide statement checks `expires_at` at the same instant,
      // so nothing overdue is ever approved or denied.
      const at = deps.now();
      deps.expireOne(org_id, approval_id, at);
      const updated = approvalStatements(db).decide.get({
        status,
        at: at.toISOString(),
        by: decision.by,
        reason: decision.reason ?? null,
        org_id,
        approval_id,
      });
      if (updated) return { ok: true, approval: deps.notify([fromRow(updated)])[0]! };
      const current = selectApproval(db, org_id, approval_id);
      if (!current) return { ok: false, code: "NOT_FOUND", reason: `Approval ${approval_id} not found` };
      if (current.status === "expired") {
        return {
          ok: false,
          code: "EXPIRED",
          reason: `Approval ${approval_id} expired at ${current.expires_at}`,
          approval: current,
        };
      }
      return {
        ok: false,
        code: "NOT_PENDING",
        reason: `Approval ${approval_id} is already ${current.status}`,
        approval: current,
      };
    })
    .immediate();
}

/** Cancels a pending or approved-but-unused approval; false when it was no longer open. */
export function cancelOpen(
  db: Db,
  deps: Omit<WriteDeps, "expire">,
  org_id: string,
  approval_id: string,
  reason: string,
): boolean {
  // A cancellation is a verdict like the others: its listeners (the audit log) run in the same transaction,
  // so no approval is cancelled without its record.
  const cancelled = db
    .transaction(() => {
      const row = approvalStatements(db).cancel.get({ at: deps.now().toISOString(), reason, org_id, approval_id });
      return row ? deps.notify([fromRow(row)]) : [];
    })
    .immediate();
  return cancelled.length > 0;
}
