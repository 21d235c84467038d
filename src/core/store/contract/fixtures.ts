// Inputs the contract tests share.
import type { CreateApprovalInput } from "../../approvals";
import type { IntentInput } from "../../audit/audit-log";
import type { AuditRecord } from "../../audit/record";
import type { SharedAuditChain } from "../shared/audit-chain";

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

/**
 * An org's chain as one list, its pages read one after another (the store has no whole-chain read): for a test's
 * short chain.
 */
export async function chainOf(audit: Pick<SharedAuditChain, "chainPages">, orgId: string): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const page of audit.chainPages(orgId)) records.push(...page);
  return records;
}
