// Engine answers as MCP tool results: structured content for programs, one text block for models.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ExecuteResponse } from "../../core/governance";
import type { InputProblem } from "./ports";

type Reason = { code: string; message: string };

function text(structured: Record<string, unknown>, summary: string, isError: boolean): CallToolResult {
  return { content: [{ type: "text", text: summary }], structuredContent: structured, isError };
}

/**
 * The call was refused before the engine decided anything (bad arguments, unknown tool, conflict). `details` are the
 * members the REST problem carries besides its code (IDEMPOTENCY_OUTCOME_UNKNOWN: `interaction_id`, the interaction
 * whose outcome the agent must look up): a program reads them here, not out of the message's prose.
 */
export function refused(
  code: string,
  message: string,
  errors?: InputProblem[],
  details: Record<string, unknown> = {},
): CallToolResult {
  return text(
    { status: "refused", code, message, ...details, ...(errors ? { errors } : {}) },
    `${code}: ${message}`,
    true,
  );
}

/**
 * A call over the rate limits REST applies too (RATE_LIMIT_EXCEEDED), or that they could not be checked
 * (REDIS_UNAVAILABLE): nothing ran; `retry_after_seconds` says when to try again (REST's Retry-After).
 */
export function limitRefused(refusal: { code: string; message: string; retryAfterSeconds: number }): CallToolResult {
  return refused(refusal.code, `${refusal.message}; retry after ${refusal.retryAfterSeconds} s`, undefined, {
    retry_after_seconds: refusal.retryAfterSeconds,
  });
}

const reasonsText = (reasons: readonly Reason[]) => reasons.map((r) => `${r.code}: ${r.message}`).join("; ");

/** ALLOW (ran), DENY, or ESCALATE still pending after the wait. */
export function executeResult(response: ExecuteResponse): CallToolResult {
  const base = {
    decision: response.decision,
    interaction_id: response.interaction_id,
    reasons: response.reasons,
    ...(response.approval_id ? { approval_id: response.approval_id } : {}),
    ...(response.risk_snapshot ? { risk_snapshot: response.risk_snapshot } : {}),
  };
  if (response.decision === "DENY") {
    return text(
      { status: "denied", ...base, executed: false },
      `Denied by policy: ${reasonsText(response.reasons)}`,
      true,
    );
  }
  if (response.decision === "ESCALATE") {
    const summary =
      `Waiting for human approval ${response.approval_id} (${reasonsText(response.reasons)}). Check it with ` +
      `gatehouse_approval_status; once approved, call this tool again with the same arguments and _meta.approval_id.`;
    return text({ status: "pending", ...base, executed: false }, summary, false);
  }
  const result = response.result ?? { success: false };
  const structured = {
    status: response.executed ? "executed" : "failed",
    ...base,
    executed: response.executed,
    result,
  };
  if (!response.executed) {
    const why = result.error
      ? `${result.error_code ? `${result.error_code}: ` : ""}${result.error}`
      : "the tool did not succeed";
    return text(structured, `Allowed, but the tool failed: ${why}`, true);
  }
  return text(structured, JSON.stringify(result.data ?? {}), false);
}

/** An approval that ended without being approved. */
export function approvalEnded(approvalId: string, status: string, response: Pick<ExecuteResponse, "interaction_id">) {
  const code =
    status === "denied" ? "APPROVAL_DENIED" : status === "expired" ? "APPROVAL_EXPIRED" : "APPROVAL_NOT_FOUND";
  // Not the operator's note: an agent learns the outcome, not who decided or why (as its REST view of an approval).
  const message = `Approval ${approvalId} was ${status}`;
  return text(
    {
      status: "denied",
      decision: "ESCALATE",
      interaction_id: response.interaction_id,
      approval_id: approvalId,
      reasons: [{ code, message }],
      executed: false,
    },
    `${code}: ${message}`,
    true,
  );
}
