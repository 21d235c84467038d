// How a session's tool call becomes the engine's ActionRequest, and how the engine's answer becomes what the
// session gateway understands (a policy decision, or the release of an escalated call).
import type { Approval } from "../../core/approvals";
import { type Authorization, type GovernanceEngine, ParamsTooLargeError } from "../../core/governance";
import type { Action, ActionRequest } from "../../core/policy/types";
import type { ToolPolicyContext, ToolPolicyDecision, ToolRelease } from "./tool-policy";

/** The action type every IDE tool maps to. */
export const IDE_ACTION_TYPE = "ide";

/**
 * The `context.channel` of every request (and so every approval) a session's tool call makes. A REST body cannot
 * claim it (src/faces/actions/handlers.ts), so an approval that carries it was asked by a session's turn.
 */
export const SESSION_CHANNEL = "agent_session";

/** Which manifest judges a session's tool calls. */
export interface SessionManifests {
  /** GATEHOUSE_SESSION_MANIFEST: every call's, unless its runtime agent is one of `sessionAgents`. */
  sessionManifest: string;
  /** GATEHOUSE_SESSION_AGENTS: runtime agents judged by the manifest of their own uapk_id, where the org has one. */
  sessionAgents: ReadonlySet<string>;
}

/**
 * The request of a tool call: the runtime's current agent's manifest when that agent is a listed session agent and
 * the org has a manifest with its uapk_id, else the session manifest; the action is `ide:<tool_name>` with the
 * call's arguments. (The runtime's agent is whatever the IDE's `switch_agent` asked for: any manifest would let
 * a user choose the rules, and the budget, their calls are judged by.)
 */
export async function requestFor(
  manifests: GovernanceEngine["manifests"],
  { sessionManifest, sessionAgents }: SessionManifests,
  orgId: string,
  ctx: ToolPolicyContext,
  params: Record<string, unknown>,
): Promise<ActionRequest> {
  const ownManifest = ctx.agent !== undefined && sessionAgents.has(ctx.agent);
  const agentManifest = ownManifest ? await manifests.getByUapkId(orgId, ctx.agent as string) : undefined;
  const manifest = agentManifest ?? (await manifests.getByUapkId(orgId, sessionManifest));
  const uapkId = manifest?.uapk_id ?? sessionManifest; // no manifest: the pipeline answers MANIFEST_NOT_FOUND
  const action: Action = { type: IDE_ACTION_TYPE, tool: ctx.toolName, params };
  return {
    uapk_id: uapkId,
    agent_id: manifest?.agent.id ?? uapkId,
    action,
    // Not part of the approval binding; kept in the audit trail.
    context: {
      channel: SESSION_CHANNEL,
      session_id: ctx.sessionId,
      call_id: ctx.callId,
      user: ctx.sub,
      ...(ctx.agent ? { runtime_agent: ctx.agent } : {}),
    },
  };
}

/** The request an approval was granted for, rebuilt from the approval record itself. */
export function requestOf(
  approval: Approval,
  ctx: ToolPolicyContext,
  params = approval.action.params ?? {},
): ActionRequest {
  return {
    uapk_id: approval.uapk_id,
    agent_id: approval.agent_id,
    action: { type: approval.action.type, tool: approval.action.tool, params },
    context: { channel: SESSION_CHANNEL, session_id: ctx.sessionId, call_id: ctx.callId, user: ctx.sub },
  };
}

/** The engine's answer to a tool call as the session gateway's policy decision. */
export function asDecision(res: Authorization): ToolPolicyDecision {
  return {
    decision: res.decision,
    reasons: res.reasons.map((r) => r.code),
    ...(res.approval_id ? { approvalId: res.approval_id } : {}),
    ...(res.reasons[0] ? { detail: res.reasons.map((r) => r.message).join("; ") } : {}),
  };
}

/**
 * The engine's refusal of arguments holding more than it judges (ParamsTooLargeError: nothing decided nor audited)
 * as the call's DENY, `PARAMS_TOO_LARGE`, as REST answers such params 400. Any other error is rethrown.
 */
export function deniedAsTooLarge(err: unknown): ToolPolicyDecision {
  if (!(err instanceof ParamsTooLargeError)) throw err;
  return { decision: "DENY", reasons: [err.code], detail: `The call's arguments: ${err.message}` };
}

/** An authorized request's answer as a release: ALLOW runs, DENY never does, ESCALATE waits again. */
export function asRelease(res: Authorization, params: Record<string, unknown>, approvalId?: string): ToolRelease {
  if (res.decision === "ALLOW")
    return { outcome: "approved", arguments: params, ...(approvalId ? { approvalId } : {}) };
  if (res.decision === "ESCALATE") return escalatedAgain(res);
  return {
    outcome: "rejected",
    reason: asFeedback(res.reasons.map((r) => r.message).join("; ") || "Denied by policy"),
    reasons: res.reasons.map((r) => r.code),
    ...(approvalId ? { approvalId } : {}),
  };
}

/** A hitl_decision's `feedback` is at most this long (spec/sessions.asyncapi.yaml), the runtime's as the IDE's. */
export const MAX_FEEDBACK_CHARS = 2_048;

/**
 * A policy's reasons as the `feedback` of the reject the runtime is sent: each reason quotes clipped values, but an
 * edit refused for many of them joins them past the frame's bound, so the text is cut there (never inside a
 * surrogate pair: the runtime gets whole characters).
 */
export function asFeedback(text: string): string {
  if (text.length <= MAX_FEEDBACK_CHARS) return text;
  let end = MAX_FEEDBACK_CHARS - 1;
  if (/[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end -= 1;
  return `${text.slice(0, end)}…`;
}

/** The approval an ESCALATE waits on: the engine always creates (or shares) one. */
export function pendingApprovalOf(res: Authorization): string {
  if (!res.approval_id) throw new Error("an ESCALATE authorization names its approval");
  return res.approval_id;
}

function escalatedAgain(res: Authorization): ToolRelease {
  return { outcome: "escalated", approvalId: pendingApprovalOf(res) };
}

/** A call that will never run, for the reason `code` names. */
export function rejected(approvalId: string, reason: string, code: string): ToolRelease {
  return { outcome: "rejected", approvalId, reason, reasons: [code] };
}
