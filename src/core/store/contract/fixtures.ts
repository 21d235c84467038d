// Inputs the contract tests share.
import type { CreateApprovalInput } from "../../approvals";
import type { IntentInput } from "../../audit/audit-log";

export const ORG = "org-contract";

export function approvalInput(amount = 50): CreateApprovalInput {
  return {
    org_id: ORG,
    uapk_id: "uapk-pay",
    agent_id: "agent-1",
    action: { type: "payment", tool: "pay", params: { amount, to: "ACME" } },
    counterparty: "ACME",
    reasons: [{ code: "AMOUNT_ABOVE_THRESHOLD" }],
  };
}

export function intentInput(interaction_id: string, org_id = ORG): IntentInput {
  return {
    org_id,
    interaction_id,
    uapk_id: "uapk-pay",
    agent_id: "agent-1",
    action: { type: "payment", tool: "pay", params: { amount: 5, secret: "s3cr3t" } },
    decision: "ALLOW",
    reasons: [],
    policy_trace: { checks: [] },
    redact: ["params.secret"],
  };
}
