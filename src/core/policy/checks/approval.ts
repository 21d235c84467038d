// approval_check: adds the manifest's own escalations (`constraints.require_human_approval` →
// REQUIRES_APPROVAL, `policy.high_risk_actions` → HIGH_RISK_ACTION), then, if the request re-submits an
// approval, checks that it is approved, unexpired, and bound to this exact request (same org, manifest,
// agent, action hash) and given for every reason it now escalates for. Such an approval turns the accumulated
// ESCALATE into ALLOW; anything else keeps it ESCALATE (a new approval). A DENY never reaches this check, so no
// approval can override one. A reason the approver was not shown (the manifest since added `high_risk_actions`
// or `escalate_new_counterparties`) is not theirs to have cleared.
import { actionHash } from "../action-hash";
import {
  type ApprovalView,
  type CheckInput,
  type CheckOutcome,
  defineCheck,
  escalate,
  pass,
  skip,
  whenReady,
} from "../policy-check";
import type { Reason } from "../types";

export const approvalCheck = defineCheck({
  name: "approval_check",
  needs: ["manifest"],
  provides: ["approvedBy"],
  run(input, deps) {
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

    const approval = deps.findApproval ? deps.findApproval(input.orgId, approvalId) : undefined;
    return whenReady(approval, (found): CheckOutcome<"approvedBy"> => {
      const problem = whyNotUsable(found, input, pending);
      if (problem) return escalate(own, { approval_id: approvalId, problem });
      return {
        kind: "continue",
        result: "pass",
        details: { approval_id: approvalId, overrides: pending.map((r) => r.code) },
        facts: { approvedBy: approvalId },
      };
    });
  },
});

/** Why a re-submitted approval cannot release this request, or undefined when it can. */
function whyNotUsable(
  approval: ApprovalView | null | undefined,
  input: CheckInput,
  pending: Reason[],
): string | undefined {
  if (!approval) return "approval not found";
  if (approval.status !== "approved") return `approval is ${approval.status}`;
  if (approval.expires_at <= input.now.toISOString()) return "approval has expired";
  if (approval.binding_hash !== actionHash(input.request)) return "approval was given for a different action";
  const shown = codesOf(approval.reasons);
  const unshown = pending.find((reason) => !shown.has(reason.code));
  if (unshown) return `approval was not given for ${unshown.code}`;
  return undefined;
}

/** The reason codes an approval was asked with. */
function codesOf(reasons: unknown[]): Set<string> {
  const codes = new Set<string>();
  for (const reason of reasons)
    if (typeof reason === "object" && reason !== null && typeof (reason as Reason).code === "string")
      codes.add((reason as Reason).code);
  return codes;
}
