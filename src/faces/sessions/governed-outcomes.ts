// The IDE's tool_result of a governed call, audited as that call's outcome: the calls released to the IDE are
// remembered until their result comes, and the result is reported to the engine as the spec's ActionResult.
import type { ActionResult, AuthorizedCall, GovernanceEngine } from "../../core/governance";
import { logger } from "../../core/log/logger";
import type { ToolOutcome, ToolOutcomeRecorder, ToolPolicyContext } from "./tool-policy";

const log = logger.child({ module: "governed-tools" });

/** Calls released to the IDE whose tool_result has not come yet, at most this many (oldest forgotten first). */
const MAX_AWAITED_OUTCOMES = 10_000;

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

export interface OutcomeTracker {
  /** Remembers a call the engine authorized until the IDE reports its result. */
  awaitResult(ctx: ToolPolicyContext, call: AuthorizedCall): void;
  /** Audits the IDE's tool_result as the outcome of the call the engine authorized (never throws). */
  recordOutcome: ToolOutcomeRecorder;
}

/**
 * The calls released to the IDE whose tool_result has not come yet (by session and call id, oldest forgotten
 * first past MAX_AWAITED_OUTCOMES), and the recorder that reports a tool_result as its call's outcome.
 */
export function outcomeTracker(engine: Pick<GovernanceEngine, "recordOutcome">): OutcomeTracker {
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
    awaitResult(ctx, call) {
      awaiting.set(callKey(ctx), call);
      if (awaiting.size > MAX_AWAITED_OUTCOMES) {
        const oldest = awaiting.keys().next().value;
        if (oldest !== undefined) awaiting.delete(oldest);
      }
    },
    recordOutcome,
  };
}
