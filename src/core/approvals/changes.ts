// One read for watchers of the approvals table (the operator console's live feed): which approvals of an org
// were created or reached a new status at or after a time. Reads only; works whichever gateway node wrote
// the rows, since it looks at the shared table rather than at in-process events.
import { sql } from "kysely";
import { compiledQuery, sqliteBuilder } from "../store/sqlite-query";
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
  const query = sqliteBuilder
    .selectFrom("approvals")
    .select([
      "approval_id",
      "status",
      // SQLite's scalar MAX: the latest of the three instants (ISO 8601 text sorts as time).
      sql<string>`MAX(created_at, COALESCE(decided_at, ''), COALESCE(consumed_at, ''))`.as("changed_at"),
    ])
    .where("org_id", "=", org_id)
    .where((eb) =>
      eb.or([eb("created_at", ">=", sinceIso), eb("decided_at", ">=", sinceIso), eb("consumed_at", ">=", sinceIso)]),
    )
    .orderBy("changed_at")
    .limit(limit);
  return compiledQuery(db, query).all();
}
