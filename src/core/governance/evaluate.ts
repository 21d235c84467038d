// evaluate: a dry run — the same decision `execute` would reach, with no side effect at all: no budget, no
// approval, no audit record (a pre-flight is not an action; the decision that counts is audited on execute).
import type { PolicyDecision } from "../policy/pipeline";
import type { ActionRequest } from "../policy/types";
import { traceDecide } from "../tracing/governance";
import type { EvaluateResponse } from "./types";

export type Evaluate = (orgId: string, request: ActionRequest) => Promise<EvaluateResponse>;

export function createEvaluate(deps: {
  now: () => Date;
  decide: (orgId: string, request: ActionRequest, at: Date) => Promise<PolicyDecision>;
}): Evaluate {
  const decide = traceDecide(deps.decide);
  return async (orgId, request) => {
    const at = deps.now();
    const { decision, reasons, policy_trace, risk_snapshot } = await decide(orgId, request, at);
    return {
      would_allow: decision === "ALLOW",
      decision,
      reasons,
      policy_trace,
      ...(risk_snapshot ? { risk_snapshot } : {}),
      timestamp: at.toISOString(),
    };
  };
}
