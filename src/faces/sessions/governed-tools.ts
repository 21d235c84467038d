// Agent tool calls under the governed-actions engine: the same manifests, policy pipeline, budgets,
// approvals and audit log as POST /gateway/execute. Mapping (documented in examples/manifests/ide-assistant.yaml):
//
//   org      = the IDE user's `org` claim; none → DENY (NO_ORG), as REST (403 ORG_FORBIDDEN) and MCP refuse such a
//              token: with a multi-tenant identity provider it is not a member of GATEHOUSE_DEFAULT_ORG
//   manifest = the runtime's current agent when GATEHOUSE_SESSION_AGENTS names it and the org has a manifest with
//              that uapk_id, else GATEHOUSE_SESSION_MANIFEST (default `ide-assistant`); agent_id = that
//              manifest's agent.id. The runtime's agent is what the IDE's `switch_agent` asked for: were any
//              manifest of the org eligible, a user could pick one that lets its tools run without approval and
//              spend another agent's budget.
//   action   = { type: "ide", tool: tool_name, params: arguments }   (capability `ide:<tool_name>`)
//
// A tool_call is *authorized* by the engine (`authorize`): decided, and on ALLOW reserved — budget spent,
// approval consumed, audit intent written — but not run: Gatehouse does not run IDE tools, the IDE does. The
// IDE's `tool_result` is that call's outcome (`recordOutcome`, through the ToolOutcomeRecorder the session
// gateway calls), so the audit log shows what the IDE reported, and a failed tool gives its budget unit back
// like any failed action. On ESCALATE exactly one pending approval exists (the store shares it between
// identical requests). Releasing an approved call authorizes it again with its approval_id: the pipeline
// re-checks everything (manifest still active, budget) and spends the approval once, atomically with the intent.
import type { Authorization, GovernanceEngine } from "../../core/governance";
import type { ActionRequest } from "../../core/policy/types";
import { createToolApprovals, type GovernedCalls } from "./governed-approvals";
import { outcomeTracker } from "./governed-outcomes";
import { asDecision, deniedAsTooLarge, requestFor, SESSION_CHANNEL } from "./governed-requests";
import type { ToolApprovals, ToolOutcomeRecorder, ToolPolicy, ToolPolicyContext } from "./tool-policy";

export { actionResultOf } from "./governed-outcomes";
export { IDE_ACTION_TYPE, SESSION_CHANNEL } from "./governed-requests";

export const DEFAULT_SESSION_MANIFEST = "ide-assistant";

export interface GovernedToolsDeps {
  /** The governance engine (src/core/governance). */
  engine: Pick<GovernanceEngine, "authorize" | "recordOutcome" | "manifests">;
  approvals: GovernedCalls["approvals"];
  /** GATEHOUSE_SESSION_MANIFEST. */
  sessionManifest?: string;
  /** GATEHOUSE_SESSION_AGENTS: the runtime agents whose own manifest judges their calls (default: none). */
  sessionAgents?: readonly string[];
  /** One waitForDecision call parks at most this long before looking again (the approval's expiry ends it too). */
  waitSliceMs?: number;
  /** Audits the IDE user's refused decisions, as the REST face audits an operator's (approvalRefusalRecorder). */
  recordRefusal?: GovernedCalls["recordRefusal"];
}

export interface GovernedTools {
  policy: ToolPolicy;
  approvals: ToolApprovals;
  /** Audits the IDE's tool_result as the outcome of the call the engine authorized (never throws). */
  recordOutcome: ToolOutcomeRecorder;
}

export function createGovernedTools(deps: GovernedToolsDeps): GovernedTools {
  const manifests = {
    sessionManifest: deps.sessionManifest || DEFAULT_SESSION_MANIFEST,
    sessionAgents: new Set(deps.sessionAgents),
  };
  const outcomes = outcomeTracker(deps.engine);
  // Never a default org: a user token naming no organisation acts in none (REST and MCP refuse it too).
  const orgOf = (ctx: Pick<ToolPolicyContext, "orgId">) => ctx.orgId;

  async function authorize(orgId: string, ctx: ToolPolicyContext, request: ActionRequest): Promise<Authorization> {
    const auth = await deps.engine.authorize(orgId, request, {
      meta: { channel: SESSION_CHANNEL, session_id: ctx.sessionId, call_id: ctx.callId },
    });
    if (auth.call) outcomes.awaitResult(ctx, auth.call);
    return auth;
  }

  const policy: ToolPolicy = async (ctx) => {
    const orgId = orgOf(ctx);
    if (!orgId)
      return { decision: "DENY", reasons: ["NO_ORG"], detail: "The session user's token names no organisation" };
    const request = await requestFor(deps.engine.manifests, manifests, orgId, ctx, ctx.arguments);
    return authorize(orgId, ctx, request).then(asDecision, deniedAsTooLarge);
  };

  const approvals = createToolApprovals({
    approvals: deps.approvals,
    orgOf,
    authorize,
    waitSliceMs: deps.waitSliceMs ?? 60_000,
    recordRefusal: deps.recordRefusal,
  });
  return { policy, approvals, recordOutcome: outcomes.recordOutcome };
}
