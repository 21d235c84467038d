// approval_check: adds the manifest's own escalations (`constraints.require_human_approval` →
// REQUIRES_APPROVAL, `policy.high_risk_actions` → HIGH_RISK_ACTION), then, if the request re-submits an
// approval, checks that it is approved, unexpired, and bound to this exact request (same org, manifest,
// agent, action hash). Such an approval turns the accumulated ESCALATE into ALLOW; anything else keeps it
// ESCALATE. A DENY never reaches this check, so no approval can override one.
import { actionHash } from "../action-hash";
import { type ApprovalView, type CheckInput, defineCheck, escalate, pass, skip } from "../policy-check";
import type { Reason } from "../types";

export const approvalCheck = defineCheck({
  name: "approval_check",
  needs: ["manifest"],
  provides: ["approvedBy"],
  async run(input, deps) {
    const { manifest, capability } = input;
    const own: Reason[] = [];
    if (manifest.constraints?.require_human_approval?.includes(capability))
      own.push({ code: "REQUIRES_APPROVAL", message: `Action '${capability}' requires human approval` });
    if (manifest.policy?.high_risk_actions?.includes(capability))
      own.push({ code: "HIGH_RISK_ACTION", message: `Action '${capability}' is flagged as high risk` });

    const pending = [...input.escalations, ...own];
    const approvalId = input.request.approval_id;
    if (pending.length === 0) return own.length === 0 && !approvalId ? skip() : pass();
    if (!approvalId) return escalate(own);

    const approval = deps.findApproval ? await deps.findApproval(input.orgId, approvalId) : undefined;
    const problem = whyNotUsable(approval, input);
    if (problem) return escalate(own, { approval_id: approvalId, problem });
    return {
      kind: "continue",
      result: "pass",
      details: { approval_id: approvalId, overrides: pending.map((r) => r.code) },
      facts: { approvedBy: approvalId },
    };
  },
});

/** Why a re-submitted approval cannot release this request, or undefined when it can. */
function whyNotUsable(approval: ApprovalView | null | undefined, input: CheckInput): string | undefined {
  if (!approval) return "approval not found";
  if (approval.status !== "approved") return `approval is ${approval.status}`;
  if (approval.expires_at <= input.now.toISOString()) return "approval has expired";
  if (approval.binding_hash !== actionHash(input.request)) return "approval was given for a different action";
  return undefined;
}
