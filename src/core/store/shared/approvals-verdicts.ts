// The verdict transactions of the shared approvals service (./approvals-service.ts): expiry and an operator's
// decision, each with its audit record in the SAME transaction as the status change, under the org's chain lock
// (./group-commit.ts), the order the grouped reservations use too, so they never deadlock.
import type { Approval, DecideResult } from "../../approvals";
import { approvalVerdictRecord } from "../../governance/approval-audit-listener";
import { toManifest } from "../../policy/manifest-repository";
import { capabilityOf } from "../../policy/types";
import { fromRow } from "../../approvals/rows";
import { cancelApproval } from "../approval-queries";
import type { SharedAuditChain } from "./audit-chain";
import { lockOrgChain, type Trx } from "./group-commit";

export interface VerdictDeps {
  audit: SharedAuditChain;
}

/**
 * The approval's verdict in the audit chain, its params redacted as its manifest's tool says. The manifest is read
 * on the transaction's own connection: a read from the pool while holding it needed a second connection, so as many
 * verdicts at once as the pool has connections (an operator approving a list) each waited for a connection none
 * would give back — the node's whole pool stuck for the 30 s connection timeout, executes included.
 */
async function recordVerdict(deps: VerdictDeps, trx: Trx, approval: Approval): Promise<void> {
  const row = await trx
    .selectFrom("manifests")
    .selectAll()
    .where("org_id", "=", approval.org_id)
    .where("uapk_id", "=", approval.uapk_id)
    .executeTakeFirst();
  const manifest = row ? toManifest(row) : undefined;
  const redact = manifest?.tools[capabilityOf(approval.action)]?.redact;
  const verdict = approvalVerdictRecord(approval, redact);
  if (verdict) await deps.audit.appendApprovalDecision(verdict, trx);
}

/** Expires the org's overdue approvals with their audit records, in a transaction holding the chain lock. */
export async function sweepIn(deps: VerdictDeps, trx: Trx, orgId: string, at: string): Promise<Approval[]> {
  await lockOrgChain(trx, orgId);
  const rows = await trx
    .updateTable("approvals")
    .set({ status: "expired" })
    .where("org_id", "=", orgId)
    .where("status", "in", ["pending", "approved"])
    .where("expires_at", "<=", at)
    .returningAll()
    .execute();
  const expired = rows.map(fromRow);
  for (const approval of expired) await recordVerdict(deps, trx, approval);
  return expired;
}

/** An operator's verdict on a pending approval (after the org's overdue ones are expired); why not otherwise. */
export async function decideIn(
  deps: VerdictDeps,
  trx: Trx,
  target: { orgId: string; approvalId: string; at: string },
  approved: boolean,
  decision: { by: string; reason?: string | undefined },
): Promise<{ result: DecideResult; expired: Approval[] }> {
  const { orgId, approvalId, at } = target;
  const expired = await sweepIn(deps, trx, orgId, at);
  const row = await trx
    .updateTable("approvals")
    .set({
      status: approved ? "approved" : "denied",
      decided_at: at,
      decided_by: decision.by,
      decision_reason: decision.reason ?? null,
    })
    .where("org_id", "=", orgId)
    .where("approval_id", "=", approvalId)
    .where("status", "=", "pending")
    .returningAll()
    .executeTakeFirst();
  if (row) {
    const approval = fromRow(row);
    await recordVerdict(deps, trx, approval);
    return { result: { ok: true, approval }, expired };
  }
  const current = await trx
    .selectFrom("approvals")
    .selectAll()
    .where("org_id", "=", orgId)
    .where("approval_id", "=", approvalId)
    .executeTakeFirst();
  if (!current)
    return { result: { ok: false, code: "NOT_FOUND", reason: `Approval ${approvalId} not found` }, expired };
  const approval = fromRow(current);
  if (approval.status === "expired")
    return {
      result: {
        ok: false,
        code: "EXPIRED",
        reason: `Approval ${approvalId} expired at ${approval.expires_at}`,
        approval,
      },
      expired,
    };
  return {
    result: {
      ok: false,
      code: "NOT_PENDING",
      reason: `Approval ${approvalId} is already ${approval.status}`,
      approval,
    },
    expired,
  };
}

/**
 * Cancels a pending or approved-but-unused approval (its session was cancelled or abandoned) with its audit record,
 * as the embedded store does: a cancellation is a verdict, never without its record. Undefined when not open.
 */
export async function cancelIn(
  deps: VerdictDeps,
  trx: Trx,
  target: { orgId: string; approvalId: string; at: string },
  reason: string,
): Promise<Approval | undefined> {
  await lockOrgChain(trx, target.orgId);
  const row = await cancelApproval(trx, {
    org_id: target.orgId,
    approval_id: target.approvalId,
    at: target.at,
    reason,
  }).executeTakeFirst();
  if (!row) return undefined;
  const approval = fromRow(row);
  await recordVerdict(deps, trx, approval);
  return approval;
}
