// Agent tool calls under the governed-actions engine: the same manifests, policy pipeline, budgets,
// approvals and audit log as POST /gateway/execute. Mapping (documented in examples/manifests/ide-assistant.yaml):
//
//   org      = the IDE user's `org` claim, else the configured default org (no org at all → DENY)
//   manifest = the runtime's current agent when the org has a manifest with that uapk_id, else
//              GATEHOUSE_SESSION_MANIFEST (default `ide-assistant`); agent_id = that manifest's agent.id
//   action   = { type: "ide", tool: tool_name, params: arguments }   (capability `ide:<tool_name>`)
//
// A tool_call is *authorized* by the engine (`authorize`): decided, and on ALLOW reserved — budget spent,
// approval consumed, audit intent written — but not run: Gatehouse does not run IDE tools, the IDE does. The
// IDE's `tool_result` is that call's outcome (`recordOutcome`, through the ToolOutcomeRecorder the session
// gateway calls), so the audit log shows what the IDE reported, and a failed tool gives its budget unit back
// like any failed action. On ESCALATE exactly one pending approval exists (the store shares it between
// identical requests). Releasing an approved call authorizes it again with its approval_id: the pipeline
// re-checks everything (manifest still active, budget) and spends the approval once, atomically with the intent.
import type { Approval } from "../../core/approvals";
import type { ApprovalsService } from "../../core/ports";
import {
  ActionConflictError,
  type ActionResult,
  type Authorization,
  type AuthorizedCall,
  type GovernanceEngine,
} from "../../core/governance";
import { logger } from "../../core/log/logger";
import type { Action, ActionRequest } from "../../core/policy/types";
import type {
  ToolApprovals,
  ToolOutcome,
  ToolOutcomeRecorder,
  ToolPolicy,
  ToolPolicyContext,
  ToolPolicyDecision,
  ToolRelease,
} from "./tool-policy";

const log = logger.child({ module: "governed-tools" });

export const DEFAULT_SESSION_MANIFEST = "ide-assistant";
/** The action type every IDE tool maps to. */
export const IDE_ACTION_TYPE = "ide";

/** Calls released to the IDE whose tool_result has not come yet, at most this many (oldest forgotten first). */
const MAX_AWAITED_OUTCOMES = 10_000;

export interface GovernedToolsDeps {
  /** The governance engine (src/core/governance). */
  engine: Pick<GovernanceEngine, "authorize" | "recordOutcome" | "manifests">;
  approvals: Pick<ApprovalsService, "get" | "approve" | "deny" | "waitForDecision"> &
    Partial<Pick<ApprovalsService, "cancel">>;
  /** GATEHOUSE_SESSION_MANIFEST. */
  sessionManifest?: string;
  /** The org of users whose token carries none (GATEHOUSE_DEFAULT_ORG). */
  defaultOrg?: string;
  /** One waitForDecision call parks at most this long before looking again (the approval's expiry ends it too). */
  waitSliceMs?: number;
}

export interface GovernedTools {
  policy: ToolPolicy;
  approvals: ToolApprovals;
  /** Audits the IDE's tool_result as the outcome of the call the engine authorized (never throws). */
  recordOutcome: ToolOutcomeRecorder;
}

/** The IDE's tool_result as the spec's ActionResult. */
export function actionResultOf(outcome: ToolOutcome): ActionResult {
  if (outcome.success) {
    const data = outcome.result;
    if (data === undefined || data === null) return { success: true };
    return {
      success: true,
      data: typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>) : { value: data },
    };
  }
  return {
    success: false,
    error: outcome.error?.message ?? "The tool failed in the IDE",
    ...(outcome.error?.code ? { error_code: outcome.error.code } : {}),
  };
}

/**
 * The calls released to the IDE whose tool_result has not come yet (by session and call id, oldest forgotten
 * first past MAX_AWAITED_OUTCOMES), and the recorder that reports a tool_result as its call's outcome.
 */
function outcomeTracker(engine: Pick<GovernanceEngine, "recordOutcome">) {
  const awaiting = new Map<string, AuthorizedCall>();
  const callKey = (ctx: Pick<ToolPolicyContext, "sessionId" | "callId">) => `${ctx.sessionId}\u0000${ctx.callId}`;

  const recordOutcome: ToolOutcomeRecorder = async (ctx, outcome) => {
    const key = callKey(ctx);
    const call = awaiting.get(key);
    if (!call) return; // never authorized here (denied, reference mode) or already reported
    awaiting.delete(key);
    try {
      await engine.recordOutcome(call, actionResultOf(outcome));
    } catch (err) {
      log.error(
        { err, callId: ctx.callId, interactionId: call.interaction_id },
        "could not record the IDE's tool_result",
      );
    }
  };

  return {
    awaitResult(ctx: ToolPolicyContext, call: AuthorizedCall): void {
      awaiting.set(callKey(ctx), call);
      if (awaiting.size > MAX_AWAITED_OUTCOMES) awaiting.delete(awaiting.keys().next().value!);
    },
    recordOutcome,
  };
}

export function createGovernedTools(deps: GovernedToolsDeps): GovernedTools {
  const sessionManifest = deps.sessionManifest || DEFAULT_SESSION_MANIFEST;
  const waitSliceMs = deps.waitSliceMs ?? 60_000;

  function orgOf(ctx: ToolPolicyContext): string | undefined {
    return ctx.orgId ?? deps.defaultOrg;
  }

  async function requestFor(
    orgId: string,
    ctx: ToolPolicyContext,
    params: Record<string, unknown>,
  ): Promise<ActionRequest> {
    const agentManifest = ctx.agent ? await deps.engine.manifests.getByUapkId(orgId, ctx.agent) : undefined;
    const manifest = agentManifest ?? (await deps.engine.manifests.getByUapkId(orgId, sessionManifest));
    const uapkId = manifest?.uapk_id ?? sessionManifest; // no manifest: the pipeline answers MANIFEST_NOT_FOUND
    const action: Action = { type: IDE_ACTION_TYPE, tool: ctx.toolName, params };
    return {
      uapk_id: uapkId,
      agent_id: manifest?.agent.id ?? uapkId,
      action,
      // Not part of the approval binding; kept in the audit trail.
      context: {
        channel: "agent_session",
        session_id: ctx.sessionId,
        call_id: ctx.callId,
        user: ctx.sub,
        ...(ctx.agent ? { runtime_agent: ctx.agent } : {}),
      },
    };
  }

  /** The request an approval was granted for, rebuilt from the approval record itself. */
  function requestOf(approval: Approval, ctx: ToolPolicyContext, params = approval.action.params ?? {}): ActionRequest {
    return {
      uapk_id: approval.uapk_id,
      agent_id: approval.agent_id,
      action: { type: approval.action.type, tool: approval.action.tool, params },
      context: { channel: "agent_session", session_id: ctx.sessionId, call_id: ctx.callId, user: ctx.sub },
    };
  }

  const outcomes = outcomeTracker(deps.engine);

  async function authorize(orgId: string, ctx: ToolPolicyContext, request: ActionRequest): Promise<Authorization> {
    const auth = await deps.engine.authorize(orgId, request, {
      meta: { channel: "agent_session", session_id: ctx.sessionId, call_id: ctx.callId },
    });
    if (auth.call) outcomes.awaitResult(ctx, auth.call);
    return auth;
  }

  function asDecision(res: Authorization): ToolPolicyDecision {
    return {
      decision: res.decision,
      reasons: res.reasons.map((r) => r.code),
      ...(res.approval_id ? { approvalId: res.approval_id } : {}),
      ...(res.reasons[0] ? { detail: res.reasons.map((r) => r.message).join("; ") } : {}),
    };
  }

  /** An executed request's answer as a release: ALLOW runs, DENY never does, ESCALATE waits again. */
  function asRelease(
    res: Authorization,
    params: Record<string, unknown>,
    approvalId?: string,
    decidedBy?: string,
  ): ToolRelease {
    if (res.decision === "ALLOW")
      return {
        outcome: "approved",
        arguments: params,
        ...(approvalId ? { approvalId } : {}),
        ...(decidedBy ? { decidedBy } : {}),
      };
    if (res.decision === "ESCALATE") return { outcome: "escalated", approvalId: res.approval_id! };
    return {
      outcome: "rejected",
      reason: res.reasons.map((r) => r.message).join("; ") || "Denied by policy",
      reasons: res.reasons.map((r) => r.code),
      ...(approvalId ? { approvalId } : {}),
    };
  }

  /** Executes under an approved approval; if another identical call spent it first, asks the policy anew. */
  async function releaseApproved(
    orgId: string,
    ctx: ToolPolicyContext,
    approval: Approval,
    params?: Record<string, unknown>,
  ): Promise<ToolRelease> {
    const request = requestOf(approval, ctx, params);
    try {
      const res = await authorize(orgId, ctx, { ...request, approval_id: approval.approval_id });
      return asRelease(res, request.action.params, approval.approval_id, approval.decided_by ?? undefined);
    } catch (err) {
      if (!(err instanceof ActionConflictError)) throw err;
      return askAgain(orgId, ctx, approval, params);
    }
  }

  /**
   * The approval was spent by an identical call (identical requests share one pending approval, e.g. the same
   * prompt in an older session): the policy decides this call anew. When this session's own user approved the
   * request, that approval carries over to the new one (as with an edit): they are not asked a second time.
   */
  async function askAgain(
    orgId: string,
    ctx: ToolPolicyContext,
    spent: Approval,
    params?: Record<string, unknown>,
  ): Promise<ToolRelease> {
    const request = requestOf(spent, ctx, params);
    const res = await authorize(orgId, ctx, request);
    const approvedByThisUser = spent.decided_by === ctx.sub && spent.status !== "denied" && spent.status !== "expired";
    if (res.decision !== "ESCALATE" || !approvedByThisUser) return asRelease(res, request.action.params);
    const approved = await deps.approvals.approve(orgId, res.approval_id!, {
      by: ctx.sub,
      reason: spent.decision_reason ?? "approved in the IDE",
    });
    if (!approved.ok) return asRelease(res, request.action.params);
    const again = requestOf(approved.approval, ctx, params);
    try {
      const released = await authorize(orgId, ctx, { ...again, approval_id: approved.approval.approval_id });
      return asRelease(released, again.action.params, approved.approval.approval_id, ctx.sub);
    } catch (err) {
      // Spent again by yet another identical call: stop here and let a human decide the fresh approval.
      if (!(err instanceof ActionConflictError)) throw err;
      return asRelease(await authorize(orgId, ctx, again), again.action.params);
    }
  }

  async function untilDecided(orgId: string, approvalId: string, signal: AbortSignal): Promise<Approval | null> {
    for (;;) {
      signal.throwIfAborted();
      const approval = await deps.approvals.waitForDecision(orgId, approvalId, waitSliceMs, signal);
      signal.throwIfAborted();
      if (!approval || approval.status !== "pending") return approval;
    }
  }

  const policy: ToolPolicy = async (ctx) => {
    const orgId = orgOf(ctx);
    if (!orgId)
      return { decision: "DENY", reasons: ["NO_ORG"], detail: "The session's user belongs to no organisation" };
    return asDecision(await authorize(orgId, ctx, await requestFor(orgId, ctx, ctx.arguments)));
  };

  const approvals: ToolApprovals = {
    async settled(ctx, approvalId, signal) {
      const orgId = orgOf(ctx)!;
      const approval = await untilDecided(orgId, approvalId, signal);
      if (!approval)
        return {
          outcome: "rejected",
          approvalId,
          reason: "The approval no longer exists",
          reasons: ["APPROVAL_NOT_FOUND"],
        };
      const decidedBy = approval.decided_by ?? undefined;
      switch (approval.status) {
        case "approved":
          return releaseApproved(orgId, ctx, approval);
        case "consumed":
          // Spent by an identical call (identical requests share one pending approval): ask again.
          return askAgain(orgId, ctx, approval);
        case "expired":
          return {
            outcome: "rejected",
            approvalId,
            reason: `Approval ${approvalId} expired undecided`,
            reasons: ["APPROVAL_EXPIRED"],
          };
        default:
          return {
            outcome: "rejected",
            approvalId,
            reason: approval.decision_reason
              ? `Rejected: ${approval.decision_reason}`
              : `Rejected by ${decidedBy ?? "an operator"}`,
            reasons: ["APPROVAL_DENIED"],
            ...(decidedBy ? { decidedBy } : {}),
          };
      }
    },

    async decide(ctx, approvalId, decision, feedback) {
      const orgId = orgOf(ctx)!;
      const by = {
        by: ctx.sub,
        reason: feedback ?? (decision === "approve" ? "approved in the IDE" : "rejected in the IDE"),
      };
      // A NOT_PENDING answer means someone decided first; `settled` reports what they decided.
      if (decision === "approve") await deps.approvals.approve(orgId, approvalId, by);
      else await deps.approvals.deny(orgId, approvalId, by);
    },

    async edit(ctx, approvalId, modifiedArguments, feedback) {
      const orgId = orgOf(ctx)!;
      const closed = await deps.approvals.deny(orgId, approvalId, {
        by: ctx.sub,
        reason: feedback ?? "replaced by edited arguments in the IDE",
      });
      if (!closed.ok && closed.approval?.status === "denied") {
        // An operator rejected the call before the edit arrived: that decision stands.
        return {
          outcome: "rejected",
          approvalId,
          reason: `Rejected: ${closed.approval.decision_reason ?? "by an operator"}`,
          reasons: ["APPROVAL_DENIED"],
        };
      }
      const original = closed.ok ? closed.approval : (closed.approval ?? (await deps.approvals.get(orgId, approvalId)));
      if (!original)
        return {
          outcome: "rejected",
          approvalId,
          reason: "The approval no longer exists",
          reasons: ["APPROVAL_NOT_FOUND"],
        };

      // The edited call is a new request: the policy decides it from scratch.
      const edited = requestOf(original, ctx, modifiedArguments);
      const first = await authorize(orgId, ctx, edited);
      if (first.decision !== "ESCALATE") return asRelease(first, modifiedArguments);
      // The user who wrote the edit is the human approving it (as with `approve`), recorded as such.
      const approved = await deps.approvals.approve(orgId, first.approval_id!, {
        by: ctx.sub,
        reason: feedback ?? "edited and approved in the IDE",
      });
      if (!approved.ok) return { outcome: "escalated", approvalId: first.approval_id! };
      return releaseApproved(orgId, ctx, approved.approval, modifiedArguments);
    },

    async cancel(ctx, approvalId, reason) {
      const orgId = orgOf(ctx);
      if (orgId) await deps.approvals.cancel?.(orgId, approvalId, reason);
    },
  };

  return { policy, approvals, recordOutcome: outcomes.recordOutcome };
}
