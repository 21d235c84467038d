// One read for watchers of the approvals table (the operator console's live feed): which approvals of an org
// were created or reached a new status at or after a time. Reads only; works whichever gateway node wrote
// the rows, since it looks at the shared table rather than at in-process events.
import type { Db } from "../store/sqlite";

export interface ApprovalChange {
  approval_id: string;
  status: string;
  /** The latest of created_at, decided_at and consumed_at: when the row last changed in a way we can see. */
  changed_at: string;
}

/**
 * Approvals of `org_id` created, decided or consumed at or after `sinceIso`, oldest change first, at most
 * `limit`. (An expiry sets no timestamp; in-process expiry is reported through `onDecided`.)
 */
export function approvalChangesSince(db: Db, org_id: string, sinceIso: string, limit = 500): ApprovalChange[] {
  return db
    .prepare<[string, string, string, string, number], ApprovalChange>(
      `SELECT approval_id, status,
              MAX(created_at, COALESCE(decided_at, ''), COALESCE(consumed_at, '')) AS changed_at
         FROM approvals
        WHERE org_id = ? AND (created_at >= ? OR decided_at >= ? OR consumed_at >= ?)
        ORDER BY changed_at ASC
        LIMIT ?`,
    )
    .all(org_id, sinceIso, sinceIso, sinceIso, limit);
}
