// Spans of the governance engine, as wrappers over its seams (the engine's modules stay tracing-agnostic):
// the policy decision (decision and reason codes as attributes) and each connector call. Without tracing
// the wrapped function is called directly.
import type { ConnectorResult } from "../connectors";
import type { PolicyDecision } from "../policy/pipeline";
import type { ActionRequest } from "../policy/types";
import { inSpan, SpanKind, tracingActive } from "./tracer";

type Decide<R extends ActionRequest> = (orgId: string, request: R, at: Date) => Promise<PolicyDecision>;

/** `policy.decide`: org, manifest, agent and capability in; decision and reason codes out. */
export function traceDecide<R extends ActionRequest>(decide: Decide<R>): Decide<R> {
  return (orgId, request, at) => {
    if (!tracingActive()) return decide(orgId, request, at);
    return inSpan(
      "policy.decide",
      {
        attributes: {
          "gatehouse.org_id": orgId,
          "gatehouse.uapk_id": request.uapk_id,
          "gatehouse.agent_id": request.agent_id,
          "gatehouse.action.type": request.action.type,
          "gatehouse.action.tool": request.action.tool,
        },
        describe: (d) => ({
          "gatehouse.decision": d.decision,
          "gatehouse.reason_codes": d.reasons.map((r) => r.code),
          "gatehouse.checks": d.policy_trace.checks.map((c) => `${c.check}:${c.result}`),
        }),
      },
      () => decide(orgId, request, at),
    );
  };
}

/** `connector <type>`: one span per connector call, with its tool and how it ended. */
export function traceToolRun(
  connectorType: string,
  tool: string,
  run: () => Promise<ConnectorResult>,
): () => Promise<ConnectorResult> {
  if (!tracingActive()) return run;
  return () =>
    inSpan(
      `connector ${connectorType}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { "gatehouse.connector.type": connectorType, "gatehouse.tool": tool },
        describe: (result) => ({
          "gatehouse.connector.success": result.success,
          ...(result.error ? { "error.type": result.error.code } : {}),
        }),
      },
      run,
    );
}
