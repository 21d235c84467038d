// ESCALATE on the shared store: the pending approval and the audit decision naming it in ONE transaction — a
// unit of this node's group commit, under the org's chain lock like every append of its chain — so no node ever
// shows an operator an approval whose decision record is missing (a crash between two commits could).
import type { Escalate } from "../../governance/ports";
import type { SharedApprovals } from "./approvals";
import type { SharedAuditChain } from "./audit-chain";
import type { SharedGroupCommit } from "./group-commit";

/** Writes an ESCALATE's approval and decision record; resolves after the COMMIT. Announcing is the caller's. */
export function sharedEscalations(
  groups: SharedGroupCommit,
  stores: { approvals: SharedApprovals; audit: SharedAuditChain },
): Escalate {
  return (input, decision) =>
    groups.run([input.org_id], async (trx) => {
      const approval = await stores.approvals.create(input, trx);
      await stores.audit.appendDecision(decision(approval.approval_id), trx);
      return approval;
    });
}
