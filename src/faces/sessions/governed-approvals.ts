// The approvals side of governed tool calls: an escalated call waits for its approval, and once decided it is
// authorized again with that approval (the pipeline re-checks everything and spends the approval once). The
// IDE user's own approve / reject / edit are recorded on the same approval as an operator's, and a decision refused
// is audited as a refused one over REST is (a `refusal` record, once per approval, user and code).
import type { Approval, DecideResult } from "../../core/approvals";
import { ActionConflictError, type Authorization } from "../../core/governance";
import { type RecordRefusal, recordRefusedDecision } from "../../core/governance/approval-audit-listener";
import { logger } from "../../core/log/logger";
import type { ActionRequest } from "../../core/policy/types";
import type { ApprovalsService } from "../../core/ports";
import { asRelease, pendingApprovalOf, rejected, requestOf } from "./governed-requests";
import type {
  EditRefused,
  IdeDecision,
  RefusedDecision,
  ToolApprovals,
  ToolPolicyContext,
  ToolRelease,
} from "./tool-policy";

const log = logger.child({ module: "sessions" });

/** What the approvals of governed calls need from createGovernedTools. */
export interface GovernedCalls {
  approvals: Pick<ApprovalsService, "get" | "approve" | "deny" | "waitForDecision"> &
    Partial<Pick<ApprovalsService, "cancel">>;
  /** The org a call is decided in (the user's, else the default org). */
  orgOf(ctx: Pick<ToolPolicyContext, "orgId">): string | undefined;
  /** The engine's authorize, remembering an authorized call until the IDE reports its result. */
  authorize(orgId: string, ctx: ToolPolicyContext, request: ActionRequest): Promise<Authorization>;
  /** One waitForDecision call parks at most this long before looking again. */
  waitSliceMs: number;
  /** Audits a refused decision (approvalRefusalRecorder, as the REST face's); absent: not audited. */
  recordRefusal?: RecordRefusal | undefined;
}

export function createToolApprovals(calls: GovernedCalls): ToolApprovals {
  return {
    settled: (ctx, approvalId, signal, stillOurs) => settled(calls, ctx, approvalId, signal, stillOurs),
    async decide(ctx, approvalId, decision, feedback) {
      const orgId = orgOfApproval(calls, ctx);
      const by = {
        by: ctx.sub,
        reason: feedback ?? (decision === "approve" ? "approved in the IDE" : "rejected in the IDE"),
      };
      // Not ok: someone decided first, or it expired (audited); `settled` reports how the call ends.
      const result =
        decision === "approve"
          ? await calls.approvals.approve(orgId, approvalId, by)
          : await calls.approvals.deny(orgId, approvalId, by);
      if (result.ok) return undefined;
      await auditStoreRefusal(calls, ctx, { orgId, approvalId, result }, decision);
      return result.reason;
    },
    auditRefused: (ctx, refused) => auditFrameRefusal(calls, ctx, refused),
    edit: (ctx, approvalId, modifiedArguments, feedback) => edit(calls, ctx, approvalId, modifiedArguments, feedback),
    async cancel(ctx, approvalId, reason) {
      const orgId = calls.orgOf(ctx);
      // Awaited: a store that cannot cancel (the database away) says so to the caller, who may try again.
      if (orgId) await calls.approvals.cancel?.(orgId, approvalId, reason);
    },
  };
}

/** A call with an approval was escalated, which needs an org: the policy denies calls without one. */
function orgOfApproval(calls: GovernedCalls, ctx: ToolPolicyContext): string {
  const orgId = calls.orgOf(ctx);
  if (!orgId) throw new Error("an approval exists only for a call decided in an org");
  return orgId;
}

/** What a refusal record says was attempted: the IDE's reject is a deny (an edit closes the approval too). */
const ATTEMPTED = { approve: "approve", reject: "deny", edit: "edit" } as const satisfies Record<
  IdeDecision,
  Parameters<RecordRefusal>[1]["attempted"]
>;

/**
 * A decision the approvals store refused (decided first elsewhere, expired): audited as the REST face audits a 409
 * (recordRefusedDecision, once per approval, user and code). A failed append is logged: the IDE's decision is
 * refused either way, and the refusal it is told must not turn into "could not be recorded, send it again".
 */
async function auditStoreRefusal(
  calls: GovernedCalls,
  ctx: ToolPolicyContext,
  failed: { orgId: string; approvalId: string; result: Extract<DecideResult, { ok: false }> },
  decision: IdeDecision,
): Promise<void> {
  if (!calls.recordRefusal) return;
  const attempt = { attempted: ATTEMPTED[decision], attempted_by: ctx.sub };
  try {
    await recordRefusedDecision(calls.approvals, calls.recordRefusal, failed, attempt);
  } catch (err) {
    log.error({ err, approvalId: failed.approvalId }, "auditing a refused IDE decision failed");
  }
}

/**
 * A hitl_decision refused before it reached the store (./tool-calls.ts `refusal`): the call no longer waits (an
 * operator decided it, it expired), or the decision names an approval that is not its call's own. Audited when an
 * approval of the user's org is concerned: APPROVAL_EXPIRED / APPROVAL_NOT_PENDING for one no longer pending (the
 * codes a store refusal gets), INVALID_CALL_ID for another call's or user's pending one. Nothing for an approval
 * not found in the org (unknown, or another org's: its chain is never written for this user), nor for the call's own
 * still pending (a repeat while the first decision is recorded). Once per approval, user and code (the chain's
 * bound); never throws.
 */
async function auditFrameRefusal(
  calls: GovernedCalls,
  ctx: Pick<ToolPolicyContext, "sub" | "orgId">,
  refused: RefusedDecision,
) {
  const orgId = calls.orgOf(ctx);
  if (!calls.recordRefusal || !orgId) return;
  try {
    const approval = await calls.approvals.get(orgId, refused.approvalId);
    const code = approval && frameRefusalCode(approval, refused);
    if (!approval || !code) return;
    await calls.recordRefusal(approval, {
      refused: code,
      attempted: ATTEMPTED[refused.decision],
      attempted_by: ctx.sub,
    });
  } catch (err) {
    log.error({ err, approvalId: refused.approvalId }, "auditing a refused IDE decision failed");
  }
}

function frameRefusalCode(
  approval: Approval,
  refused: RefusedDecision,
): Parameters<RecordRefusal>[1]["refused"] | undefined {
  const overdue = approval.status === "pending" && Date.parse(approval.expires_at) <= Date.now();
  if (approval.status === "expired" || overdue) return "APPROVAL_EXPIRED";
  if (approval.status !== "pending") return "APPROVAL_NOT_PENDING";
  return approval.approval_id === refused.ownApprovalId ? undefined : "INVALID_CALL_ID";
}

/**
 * Waits until the approval is decided (or gone), then releases or rejects the call accordingly — unless
 * `stillOurs` says the turn is no longer this node's by then (see ToolApprovals.settled): nothing is spent.
 */
async function settled(
  calls: GovernedCalls,
  ctx: ToolPolicyContext,
  approvalId: string,
  signal: AbortSignal,
  stillOurs?: () => Promise<boolean>,
): Promise<ToolRelease> {
  const orgId = orgOfApproval(calls, ctx);
  const approval = await untilDecided(calls, orgId, approvalId, signal);
  if (stillOurs && !(await stillOurs()))
    throw new DOMException("the session's turn is no longer this node's", "AbortError");
  if (!approval) return rejected(approvalId, "The approval no longer exists", "APPROVAL_NOT_FOUND");
  switch (approval.status) {
    // The call's own arguments, not the approval's stored copy: a large argument is stored as its hash and a
    // preview (approvals.ts), and the binding hash proves these are the arguments that were approved.
    case "approved":
      return releaseApproved(calls, orgId, ctx, approval, ctx.arguments);
    case "consumed":
      // Spent by an identical call (identical requests share one pending approval): ask again.
      return askAgain(calls, orgId, ctx, approval, ctx.arguments);
    case "expired":
      return rejected(approvalId, `Approval ${approvalId} expired undecided`, "APPROVAL_EXPIRED");
    default:
      // The outcome alone, as the agent's REST and MCP views of an approval: neither who decided nor the decider's
      // note reaches the IDE or the runtime (an operator's note is private to operators; the IDE user's own
      // feedback on their own reject is passed on by ./tool-calls.ts).
      return rejected(approvalId, `Approval ${approvalId} was denied`, "APPROVAL_DENIED");
  }
}

async function untilDecided(
  calls: GovernedCalls,
  orgId: string,
  approvalId: string,
  signal: AbortSignal,
): Promise<Approval | null> {
  for (;;) {
    signal.throwIfAborted();
    const approval = await calls.approvals.waitForDecision(orgId, approvalId, calls.waitSliceMs, signal);
    signal.throwIfAborted();
    if (!approval || approval.status !== "pending") return approval;
  }
}

/**
 * The IDE's edit: the original approval is closed and the edited call is decided from scratch. An approval no longer
 * pending (an operator approved or denied it first, it expired, was cancelled or is gone) takes no edit: that
 * outcome stands and the edit is refused, as a late approve / reject is (the original call's watcher reports it).
 */
async function edit(
  calls: GovernedCalls,
  ctx: ToolPolicyContext,
  approvalId: string,
  modifiedArguments: Record<string, unknown>,
  feedback: string | undefined,
): Promise<ToolRelease | EditRefused> {
  const orgId = orgOfApproval(calls, ctx);
  const closed = await calls.approvals.deny(orgId, approvalId, {
    by: ctx.sub,
    reason: feedback ?? "replaced by edited arguments in the IDE",
  });
  if (!closed.ok) {
    await auditStoreRefusal(calls, ctx, { orgId, approvalId, result: closed }, "edit");
    return { refused: closed.reason };
  }

  // The edited call is a new request: the policy decides it from scratch.
  // (Arguments over the engine's bound on params were refused with the frame, ./frames.ts, before the close.)
  const first = await calls.authorize(orgId, ctx, requestOf(closed.approval, ctx, modifiedArguments));
  if (first.decision !== "ESCALATE") return asRelease(first, modifiedArguments);
  // The user who wrote the edit is the human approving it (as with `approve`), recorded as such.
  const fresh = pendingApprovalOf(first);
  const approved = await calls.approvals.approve(orgId, fresh, {
    by: ctx.sub,
    reason: feedback ?? "edited and approved in the IDE",
  });
  if (!approved.ok) return { outcome: "escalated", approvalId: fresh };
  return releaseApproved(calls, orgId, ctx, approved.approval, modifiedArguments);
}

/** Authorizes under an approved approval; if another identical call spent it first, asks the policy anew. */
async function releaseApproved(
  calls: GovernedCalls,
  orgId: string,
  ctx: ToolPolicyContext,
  approval: Approval,
  params?: Record<string, unknown>,
): Promise<ToolRelease> {
  const request = requestOf(approval, ctx, params);
  try {
    const res = await calls.authorize(orgId, ctx, { ...request, approval_id: approval.approval_id });
    return asRelease(res, request.action.params, approval.approval_id);
  } catch (err) {
    if (!(err instanceof ActionConflictError)) throw err;
    return askAgain(calls, orgId, ctx, approval, params);
  }
}

/**
 * The approval was spent by an identical call (identical requests share one pending approval, e.g. the same
 * prompt in an older session): the policy decides this call anew. When this session's own user approved the
 * request, that approval carries over to the new one (as with an edit): they are not asked a second time.
 */
async function askAgain(
  calls: GovernedCalls,
  orgId: string,
  ctx: ToolPolicyContext,
  spent: Approval,
  params?: Record<string, unknown>,
): Promise<ToolRelease> {
  const request = requestOf(spent, ctx, params);
  const res = await calls.authorize(orgId, ctx, request);
  const approvedByThisUser = spent.decided_by === ctx.sub && spent.status !== "denied" && spent.status !== "expired";
  if (res.decision !== "ESCALATE" || !approvedByThisUser) return asRelease(res, request.action.params);
  const approved = await calls.approvals.approve(orgId, pendingApprovalOf(res), {
    by: ctx.sub,
    reason: spent.decision_reason ?? "approved in the IDE",
  });
  if (!approved.ok) return asRelease(res, request.action.params);
  const again = requestOf(approved.approval, ctx, params);
  try {
    const released = await calls.authorize(orgId, ctx, { ...again, approval_id: approved.approval.approval_id });
    return asRelease(released, again.action.params, approved.approval.approval_id);
  } catch (err) {
    // Spent again by yet another identical call: stop here and let a human decide the fresh approval.
    if (!(err instanceof ActionConflictError)) throw err;
    return asRelease(await calls.authorize(orgId, ctx, again), again.action.params);
  }
}
