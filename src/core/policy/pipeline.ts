// The policy pipeline: a fixed, documented order of checks, one file each in ./checks/.
//
//   manifest_validation → capability_token → action_type → tool_authorization → amount_threshold →
//   counterparty_check → jurisdiction_check → budget_check → approval_check
//
// Every check that runs leaves one trace entry (pass | fail | skip | escalate). The first `fail` is a DENY
// and stops the pipeline. `escalate`s accumulate and evaluation goes on, so a later DENY wins over an earlier
// ESCALATE. The approval check runs last: an approved approval bound to this exact action turns the
// accumulated ESCALATE into ALLOW (once); it can never override a DENY, because a DENY never reaches it.
// The pipeline itself changes no state: budget consumption and approval creation are the caller's
// (execute's) job, so evaluate is a pure dry run.
import { actionHash } from "./action-hash";
import type { BudgetCounters, BudgetSlot } from "./budget-counters";
import { POLICY_CHECKS } from "./checks";
import type { KnownCounterparties } from "./known-counterparties";
import type { ManifestRepository } from "./manifest-repository";
import type { CapabilityClaims, CapabilityTokenService } from "./tokens/capability-tokens";
import {
  capabilityOf,
  type ActionRequest,
  type CheckName,
  type CheckResult,
  type Decision,
  type Manifest,
  type PolicyTraceEntry,
  type Reason,
  type RiskSnapshot,
} from "./types";

/** What the approval check reads of an approval (a structural subset of src/core/approvals' Approval). */
export interface ApprovalView {
  approval_id: string;
  status: "pending" | "approved" | "denied" | "expired" | "consumed";
  /** approvalBindingHash() of the escalated request (see ./action-hash.ts). */
  binding_hash: string;
  expires_at: string;
}

/** Seam to the approvals module (src/core/approvals `ApprovalStore.get`): read-only lookup of one approval. */
export type FindApproval = (
  orgId: string,
  approvalId: string,
) => ApprovalView | null | undefined | Promise<ApprovalView | null | undefined>;

export interface PolicyDeps {
  manifests: Pick<ManifestRepository, "getByUapkId">;
  tokens: Pick<CapabilityTokenService, "verify">;
  budgets: BudgetCounters;
  counterparties: KnownCounterparties;
  findApproval?: FindApproval;
}

/** Mutable state that flows through the checks of one request. */
export interface PolicyContext {
  orgId: string;
  request: ActionRequest;
  /** `type:tool`. */
  capability: string;
  now: Date;
  /** Set by manifest_validation when it passes. */
  manifest?: Manifest;
  /** Set by capability_token when a valid token was presented. */
  token?: CapabilityClaims;
  /** ESCALATE reasons gathered so far. */
  escalations: Reason[];
  /** Set by budget_check: the budgets an execution must consume. */
  budgetSlots: BudgetSlot[];
  riskSnapshot?: RiskSnapshot;
  /** Set by approval_check when an approved approval overrides the escalations. */
  approvedBy?: string;
}

export interface CheckOutcome {
  result: CheckResult;
  reasons?: Reason[];
  details?: Record<string, unknown>;
}

export interface PolicyCheck {
  /** Trace name, e.g. `budget_check`. */
  name: CheckName;
  run(ctx: PolicyContext, deps: PolicyDeps): CheckOutcome | Promise<CheckOutcome>;
}

export interface PolicyDecision {
  decision: Decision;
  reasons: Reason[];
  policy_trace: { checks: PolicyTraceEntry[] };
  risk_snapshot?: RiskSnapshot;
  /** The budgets execute must consume on ALLOW. */
  budgetSlots: BudgetSlot[];
  /** The approval that turned ESCALATE into ALLOW (execute must consume it). */
  approvedBy?: string;
  manifest?: Manifest;
  token?: CapabilityClaims;
  /** Binds an approval to this exact request. */
  actionHash: string;
}

export { actionHash };

export async function decide(
  orgId: string,
  request: ActionRequest,
  deps: PolicyDeps,
  options: { now?: Date; checks?: readonly PolicyCheck[] } = {},
): Promise<PolicyDecision> {
  const ctx: PolicyContext = {
    orgId,
    request,
    capability: capabilityOf(request.action),
    now: options.now ?? new Date(),
    escalations: [],
    budgetSlots: [],
  };
  const trace: PolicyTraceEntry[] = [];
  let denial: Reason[] | undefined;

  for (const check of options.checks ?? POLICY_CHECKS) {
    const outcome = await check.run(ctx, deps);
    trace.push({ check: check.name, result: outcome.result, ...(outcome.details ? { details: outcome.details } : {}) });
    if (outcome.result === "fail") {
      denial = outcome.reasons?.length ? outcome.reasons : [{ code: "ACTION_NOT_ALLOWED", message: `${check.name} failed` }];
      break;
    }
    if (outcome.result === "escalate") ctx.escalations.push(...(outcome.reasons ?? []));
  }

  const base = {
    policy_trace: { checks: trace },
    ...(ctx.riskSnapshot ? { risk_snapshot: ctx.riskSnapshot } : {}),
    budgetSlots: ctx.budgetSlots,
    manifest: ctx.manifest,
    token: ctx.token,
    actionHash: actionHash(request),
  };
  if (denial) return { decision: "DENY", reasons: denial, ...base };
  if (ctx.escalations.length > 0 && !ctx.approvedBy) return { decision: "ESCALATE", reasons: ctx.escalations, ...base };
  return { decision: "ALLOW", reasons: [], ...base, ...(ctx.approvedBy ? { approvedBy: ctx.approvedBy } : {}) };
}
