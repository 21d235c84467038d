// batch: the actions of one request executed in order, each through `execute` (each its own interaction, with
// the batch id and its action id in the audit meta); `stop_on_deny` skips the rest after the first DENY.
import { randomUUID } from "node:crypto";
import type { Action } from "../policy/types";
import type { ExecuteOnce } from "./execute";
import type { BatchRequest, BatchResponse, BatchResultItem, ExecuteOptions, ExecuteRequest } from "./types";

export type Batch = (orgId: string, request: BatchRequest, options?: Pick<ExecuteOptions, "signal">) => Promise<BatchResponse>;

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
  return { total: results.length, allowed: count("ALLOW"), denied: count("DENY"), escalated: count("ESCALATE"), skipped: count("SKIPPED") };
}

export function createBatch(execute: ExecuteOnce): Batch {
  return async function batch(orgId, request, options = {}) {
    const batchId = `batch-${randomUUID()}`;
    const results: BatchResultItem[] = [];
    let stopped = false;
    for (const item of request.actions) {
      if (stopped) {
        results.push({ action_id: item.action_id, decision: "SKIPPED", executed: false });
        continue;
      }
      const response = await execute(orgId, requestOf(request, item), {
        signal: options.signal,
        meta: { batch_id: batchId, action_id: item.action_id },
      });
      results.push({
        action_id: item.action_id,
        interaction_id: response.interaction_id,
        decision: response.decision,
        executed: response.executed,
        ...(response.result ? { result: response.result } : {}),
        ...(response.reasons?.length ? { reasons: response.reasons } : {}),
        ...(response.approval_id ? { approval_id: response.approval_id } : {}),
      });
      if (response.decision === "DENY" && request.stop_on_deny) stopped = true;
    }
    return { batch_id: batchId, results, summary: summaryOf(results) };
  };
}
