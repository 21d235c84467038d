// The verdict transactions of the shared approvals service (./approvals-service.ts): expiry and an operator's
// decision, each with its audit record in the SAME transaction as the status change, under the org's chain lock
// (./group-commit.ts), the order the grouped reservations use too, so they never deadlock.
import { type Approval, type DecideResult, EXPIRY_BATCH } from "../../approvals";
import { approvalVerdictRecord } from "../../governance/approval-audit-listener";
import { toManifest } from "../../policy/manifest-repository";
import { capabilityOf } from "../../policy/types";
import { fromRow } from "../../approvals/rows";
import { cancelApproval } from "../approval-queries";
import { isSqlite } from "../migrations/dialect";
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

const OPEN = ["pending", "approved"] as const;

/**
 * Expires at most `limit` of the org's overdue approvals, longest overdue first, with their audit records, in a
 * transaction holding the chain lock. Capped as the embedded store's sweep is (EXPIRY_BATCH): each expiry costs an
 * audit append and a manifest read under the org's chain lock, so expiring a flood in one go (1,200 overdue: 2 s)
 * stalled the read that found it and every verdict and reservation of the org on every node. The rest is left to
 * later sweeps (the next read, the notifier's timer); the approval a request reads or decides is expired on its
 * own (expireOneIn). Rows another transaction has locked are skipped, not waited for: it is deciding or consuming
 * them, and a later sweep finds any that are still overdue.
 */
export async function sweepIn(
  deps: VerdictDeps,
  trx: Trx,
  orgId: string,
  at: string,
  limit = EXPIRY_BATCH,
): Promise<Approval[]> {
  await lockOrgChain(trx, orgId);
  let batch = trx
    .selectFrom("approvals")
    .select("approval_id")
    .where("org_id", "=", orgId)
    .where("status", "in", OPEN)
    .where("expires_at", "<=", at)
    .orderBy("expires_at")
    .limit(limit);
  // SQLite (the contract suite) has no row locks: its transactions are already serialised.
  if (!isSqlite(trx)) batch = batch.forUpdate().skipLocked();
  const rows = await trx
    .updateTable("approvals")
    .set({ status: "expired" })
    .where("approval_id", "in", batch)
    .where("status", "in", OPEN)
    .returningAll()
    .execute();
  const expired = rows.map(fromRow);
  for (const approval of expired) await recordVerdict(deps, trx, approval);
  return expired;
}

/**
 * Expires one approval with its record when it is still open and overdue at `at`: the one a request reads or
 * decides, which a capped sweep may have left behind. Undefined when there was nothing to expire.
 */
export async function expireOneIn(
  deps: VerdictDeps,
  trx: Trx,
  target: { orgId: string; approvalId: string; at: string },
): Promise<Approval | undefined> {
  await lockOrgChain(trx, target.orgId);
  const row = await trx
    .updateTable("approvals")
    .set({ status: "expired" })
    .where("org_id", "=", target.orgId)
    .where("approval_id", "=", target.approvalId)
    .where("status", "in", OPEN)
    .where("expires_at", "<=", target.at)
    .returningAll()
    .executeTakeFirst();
  if (!row) return undefined;
  const approval = fromRow(row);
  await recordVerdict(deps, trx, approval);
  return approval;
}

/**
 * An operator's verdict on a pending approval still in time (after a batch of the org's overdue ones is expired);
 * why not otherwise.
 */
export async function decideIn(
  deps: VerdictDeps,
  trx: Trx,
  target: { orgId: string; approvalId: string; at: string },
  approved: boolean,
  decision: { by: string; reason?: string | undefined },
): Promise<{ result: DecideResult; expired: Approval[] }> {
  const { orgId, approvalId, at } = target;
  const expired = await sweepIn(deps, trx, orgId, at);
  // Only while in time: an approval overdue beyond the sweep's batch is expired below, never approved or denied.
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
    .where("expires_at", ">", at)
    .returningAll()
    .executeTakeFirst();
  if (row) {
    const approval = fromRow(row);
    await recordVerdict(deps, trx, approval);
    return { result: { ok: true, approval }, expired };
  }
  const late = await expireOneIn(deps, trx, target);
  if (late) expired.push(late);
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
