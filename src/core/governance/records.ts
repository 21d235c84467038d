// How a decision becomes an audit record and the common fields of an answer. Pure functions.
import type { DecisionInput, IntentInput } from "../audit/audit-log";
import type { PolicyDecision } from "../policy/pipeline";
import { capabilityOf, type ActionRequest } from "../policy/types";
import { traceMeta } from "../tracing/tracer";
import type { ExecuteRequest } from "./types";

/**
 * The caller's meta plus what the request says about itself (context, idempotency key) and, when tracing, the
 * trace id of the request (so an audit record leads to its trace).
 */
export function auditMetaOf(request: ExecuteRequest, meta: Record<string, unknown>): Record<string, unknown> {
  return {
    ...meta,
    ...traceMeta(),
    ...(request.context ? { context: request.context } : {}),
    ...(request.idempotency_key ? { idempotency_key: request.idempotency_key } : {}),
  };
}

/** The fields every execute answer carries for a decision. */
export function decisionFields(interactionId: string, decision: PolicyDecision, at: Date) {
  return {
    interaction_id: interactionId,
    decision: decision.decision,
    reasons: decision.reasons,
    policy_trace: decision.policy_trace,
    ...(decision.risk_snapshot ? { risk_snapshot: decision.risk_snapshot } : {}),
    timestamp: at.toISOString(),
  };
}

export function decisionRecord(
  orgId: string,
  interactionId: string,
  request: ActionRequest,
  d: PolicyDecision,
  meta: Record<string, unknown>,
  approvalId?: string,
): DecisionInput {
  return {
    org_id: orgId,
    interaction_id: interactionId,
    uapk_id: request.uapk_id,
    agent_id: request.agent_id,
    action: request.action,
    decision: d.decision,
    reasons: d.reasons,
    policy_trace: d.policy_trace,
    approval_id: approvalId ?? null,
    redact: d.manifest?.tools[capabilityOf(request.action)]?.redact,
    meta,
  };
}

/** The write-ahead record of an ALLOWed call, committed before it runs. */
export function intentRecord(
  orgId: string,
  interactionId: string,
  request: ActionRequest,
  d: PolicyDecision,
  meta: Record<string, unknown>,
): IntentInput {
  return {
    org_id: orgId,
    interaction_id: interactionId,
    uapk_id: request.uapk_id,
    agent_id: request.agent_id,
    action: request.action,
    decision: "ALLOW",
    reasons: [],
    policy_trace: d.policy_trace,
    approval_id: d.approvedBy ?? null,
    redact: d.manifest?.tools[capabilityOf(request.action)]?.redact,
    meta,
  };
}
