// batch: the actions of one request executed in order, each through `execute` (each its own interaction, with
// the batch id and its action id in the audit meta); `stop_on_deny` skips the rest after the first DENY.
// Once an action of this batch has been answered, the batch never fails as a whole: an action that throws is
// reported in its place (SKIPPED, not run, its problem code in `result.error_code`) and the ones after it are
// skipped, so the caller learns what took effect. Every answer recorded something (a connector run, an ESCALATE's
// approval, a DENY's audit record) or replays an earlier answer that did: failing the batch would hide it, e.g. an
// approval operators see pending whose approval_id the agent never got.
// A caller that hangs up stops the batch at the next action: the rest are not decided (no budget, token use or
// approval spent, no key claimed, so a retry decides them afresh); the action running then finishes (execute.ts).
import { randomUUID } from "node:crypto";
import type { Action } from "../policy/types";
import type { ExecuteOnce } from "./execute";
import {
  type BatchRequest,
  type BatchResponse,
  type BatchResultItem,
  type ExecuteRequest,
  type ExecuteResponse,
  OutcomePendingError,
} from "./types";

export type Batch = (
  orgId: string,
  request: BatchRequest,
  /** Aborted when the caller hangs up. */
  options?: { signal?: AbortSignal | undefined },
) => Promise<BatchResponse>;

/** One batch item as the execute request it stands for. */
function requestOf(batch: BatchRequest, item: BatchRequest["actions"][number]): ExecuteRequest {
  const { action_id: _actionId, idempotency_key, approval_id, ...action } = item;
  return {
    uapk_id: batch.uapk_id,
    agent_id: batch.agent_id,
    ...(batch.capability_token ? { capability_token: batch.capability_token } : {}),
    action: action as Action,
    ...(idempotency_key ? { idempotency_key } : {}),
    ...(approval_id ? { approval_id } : {}),
    ...(batch.context ? { context: batch.context } : {}),
  };
}

function summaryOf(results: BatchResultItem[]): BatchResponse["summary"] {
  const count = (d: BatchResultItem["decision"]) => results.filter((r) => r.decision === d).length;
  return {
    total: results.length,
    allowed: count("ALLOW"),
    denied: count("DENY"),
    escalated: count("ESCALATE"),
    skipped: count("SKIPPED"),
  };
}

/** The place of an action that threw, once earlier actions of the batch have been answered (and recorded). */
function failedItem(item: BatchRequest["actions"][number], err: unknown): BatchResultItem {
  // It ran, but its records are still being written: its answer is not known to be stored yet (./durable.ts).
  if (err instanceof OutcomePendingError)
    return {
      action_id: item.action_id,
      interaction_id: err.interaction_id,
      decision: "ALLOW",
      executed: false,
      result: { success: false, error: err.message, error_code: err.code },
    };
  const code = (err as { code?: unknown })?.code;
  return {
    action_id: item.action_id,
    decision: "SKIPPED",
    executed: false,
    result: {
      success: false,
      error: `not run: ${err instanceof Error ? err.message : String(err)}`,
      error_code: typeof code === "string" ? code : "INTERNAL_ERROR",
    },
  };
}

export function createBatch(execute: ExecuteOnce): Batch {
  return async function batch(orgId, request, options = {}) {
    const batchId = `batch-${randomUUID()}`;
    const results: BatchResultItem[] = [];
    let stopped = false;
    let answered = false;
    for (const item of request.actions) {
      if (options.signal?.aborted) stopped = true;
      if (stopped) {
        results.push({ action_id: item.action_id, decision: "SKIPPED", executed: false });
        continue;
      }
      let response: ExecuteResponse;
      try {
        response = await execute(orgId, requestOf(request, item), {
          meta: { batch_id: batchId, action_id: item.action_id },
        });
      } catch (err) {
        // Nothing answered (so nothing recorded) yet: the error is the batch's answer. Otherwise report what
        // happened and stop here.
        if (!answered) throw err;
        results.push(failedItem(item, err));
        stopped = true;
        continue;
      }
      answered = true;
      results.push({
        action_id: item.action_id,
        interaction_id: response.interaction_id,
        decision: response.decision,
        executed: response.executed,
        ...(response.result ? { result: response.result } : {}),
        ...(response.reasons?.length ? { reasons: response.reasons } : {}),
        ...(response.approval_id ? { approval_id: response.approval_id } : {}),
        // A replayed answer: its decision and `executed` are the first request's; nothing ran again.
        ...(response.idempotent ? { idempotent: true } : {}),
      });
      if (response.decision === "DENY" && request.stop_on_deny) stopped = true;
    }
    return { batch_id: batchId, results, summary: summaryOf(results) };
  };
}
