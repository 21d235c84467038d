// ESCALATE's writes through ports that cannot share a commit (an approvals port without `ask` or `escalate`):
// the approval first, then the decision record naming it. Both real stores do better: the embedded one in one
// group commit (./sqlite-adapters.ts, sqliteEscalations), PostgreSQL in one transaction
// (src/core/store/shared/escalations.ts, through the approvals service's `escalate`).
import type { ApprovalsPort, EscalationStore, GovernanceAudit } from "./ports";

export function escalationsInTwoSteps(approvals: ApprovalsPort, audit: GovernanceAudit): EscalationStore {
  return {
    async escalate(input, decision) {
      const approval = await approvals.create(input);
      await audit.recordDecision(decision(approval.approval_id));
      return approval;
    },
  };
}
