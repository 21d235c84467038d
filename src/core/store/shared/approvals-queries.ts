// Reads of the shared store's approvals table for the approvals service (./approvals-service.ts): one approval,
// the keyset-paged list, what is overdue, and the changes since an instant.
import type { Approval, ApprovalStore } from "../../approvals";
import type { ApprovalChange } from "../../approvals/changes";
import { fromRow } from "../../approvals/rows";
import { listApprovalsQuery, selectApproval } from "../approval-queries";
import type { AnyKysely } from "../postgres";
import type { Trx } from "./group-commit";

type ListFilter = NonNullable<Parameters<ApprovalStore["list"]>[1]>;

export async function readApproval(db: AnyKysely | Trx, orgId: string, approvalId: string): Promise<Approval | null> {
  const row = await selectApproval(db, { org_id: orgId, approval_id: approvalId }).executeTakeFirst();
  return row ? fromRow(row) : null;
}

/** The same keyset-paged list as the embedded store's (../approval-queries.ts). */
export async function listApprovals(db: AnyKysely, orgId: string, filter: ListFilter): Promise<Approval[]> {
  return (await listApprovalsQuery(db, orgId, filter).execute()).map(fromRow);
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
