// ESCALATE's writes on a store that cannot put them in one commit with the engine's audit port (the shared
// PostgreSQL store): the approval first, then the decision record naming it. The embedded store does both in
// one group commit (./sqlite-adapters.ts, sqliteEscalations).
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
