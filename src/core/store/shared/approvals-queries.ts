// Reads of the shared store's approvals table for the approvals service (./approvals-service.ts): one approval,
// the keyset-paged list, what is overdue, and the changes since an instant.
import type { Approval, ApprovalStore } from "../../approvals";
import type { ApprovalChange } from "../../approvals/changes";
import { fromRow } from "../../approvals/rows";
import type { AnyKysely } from "../postgres";
import type { Trx } from "./group-commit";

type ListFilter = NonNullable<Parameters<ApprovalStore["list"]>[1]>;

export async function readApproval(db: AnyKysely | Trx, orgId: string, approvalId: string): Promise<Approval | null> {
  const row = await db
    .selectFrom("approvals")
    .selectAll()
    .where("org_id", "=", orgId)
    .where("approval_id", "=", approvalId)
    .executeTakeFirst();
  return row ? fromRow(row) : null;
}

export async function listApprovals(db: AnyKysely, orgId: string, filter: ListFilter): Promise<Approval[]> {
  const requested = filter.limit ?? 100;
  // The API caps a page at 500; the handler reads one more to know whether a next page exists (clamping to
  // 500 here lost the next_cursor of a full maximum page), so allow what the embedded store allows.
  const limit = Number.isInteger(requested) ? Math.min(Math.max(requested, 1), 1000) : 100;
  let query = db.selectFrom("approvals").selectAll().where("org_id", "=", orgId);
  if (filter.status) query = query.where("status", "=", filter.status);
  if (filter.agent_id) query = query.where("agent_id", "=", filter.agent_id);
  // Keyset paging in the list's own order (newest first, then approval_id), as the embedded store does.
  const after = filter.after;
  if (after)
    query = query.where((eb) =>
      eb.or([
        eb("created_at", "<", after.created_at),
        eb.and([eb("created_at", "=", after.created_at), eb("approval_id", ">", after.approval_id)]),
      ]),
    );
  const rows = await query.orderBy("created_at", "desc").orderBy("approval_id").limit(limit).execute();
  return rows.map(fromRow);
}

/** Whether the org has an approval past `expires_at` still pending or approved (a read, no lock). */
export async function hasOverdue(db: AnyKysely, orgId: string, at: string): Promise<boolean> {
  const found = await db
    .selectFrom("approvals")
    .select("approval_id")
    .where("org_id", "=", orgId)
    .where("status", "in", ["pending", "approved"])
    .where("expires_at", "<=", at)
    .limit(1)
    .executeTakeFirst();
  return Boolean(found);
}

/** The orgs that have overdue approvals. */
export async function orgsWithOverdue(db: AnyKysely, at: string): Promise<string[]> {
  const orgs = await db
    .selectFrom("approvals")
    .select("org_id")
    .distinct()
    .where("status", "in", ["pending", "approved"])
    .where("expires_at", "<=", at)
    .execute();
  return orgs.map(({ org_id }) => org_id as string);
}

/** Approvals created, decided or consumed at or after `sinceIso` (see src/core/approvals/changes.ts). */
export async function approvalChangesSince(db: AnyKysely, orgId: string, sinceIso: string): Promise<ApprovalChange[]> {
  const rows = await db
    .selectFrom("approvals")
    .select(["approval_id", "status", "created_at", "decided_at", "consumed_at"])
    .where("org_id", "=", orgId)
    .where((eb) =>
      eb.or([eb("created_at", ">=", sinceIso), eb("decided_at", ">=", sinceIso), eb("consumed_at", ">=", sinceIso)]),
    )
    .execute();
  const changed: ApprovalChange[] = rows.map((row) => ({
    approval_id: row.approval_id as string,
    status: row.status as string,
    changed_at: [row.created_at, row.decided_at ?? "", row.consumed_at ?? ""].sort().at(-1) as string,
  }));
  return changed.sort((a, b) => a.changed_at.localeCompare(b.changed_at)).slice(0, 500);
}
