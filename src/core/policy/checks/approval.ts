// approval_check: adds the manifest's own escalations (`constraints.require_human_approval` →
// REQUIRES_APPROVAL, `policy.high_risk_actions` → HIGH_RISK_ACTION), then, if the request re-submits an
// approval, checks that it is approved, unexpired, and bound to this exact request (same org, manifest,
// agent, action hash). Such an approval turns the accumulated ESCALATE into ALLOW; anything else keeps it
// ESCALATE. A DENY never reaches this check, so no approval can override one.
import { actionHash } from "../action-hash";
import type { PolicyCheck } from "../pipeline";
import type { Reason } from "../types";

export const approvalCheck: PolicyCheck = {
  name: "approval_check",
  async run(ctx, deps) {
    const manifest = ctx.manifest!;
    const own: Reason[] = [];
    if (manifest.constraints?.require_human_approval?.includes(ctx.capability))
      own.push({ code: "REQUIRES_APPROVAL", message: `Action '${ctx.capability}' requires human approval` });
    if (manifest.policy?.high_risk_actions?.includes(ctx.capability))
      own.push({ code: "HIGH_RISK_ACTION", message: `Action '${ctx.capability}' is flagged as high risk` });

    const pending = [...ctx.escalations, ...own];
    if (pending.length === 0) return { result: own.length === 0 && !ctx.request.approval_id ? "skip" : "pass" };

    const approvalId = ctx.request.approval_id;
    if (!approvalId) return { result: "escalate", reasons: own };

    const approval = deps.findApproval ? await deps.findApproval(ctx.orgId, approvalId) : undefined;
    const problem = !approval
      ? "approval not found"
      : approval.status !== "approved"
        ? `approval is ${approval.status}`
        : approval.expires_at <= ctx.now.toISOString()
          ? "approval has expired"
          : approval.binding_hash !== actionHash(ctx.request)
            ? "approval was given for a different action"
            : undefined;
    if (problem) return { result: "escalate", reasons: own, details: { approval_id: approvalId, problem } };

    ctx.approvedBy = approvalId;
    return { result: "pass", details: { approval_id: approvalId, overrides: pending.map((r) => r.code) } };
  },
};
