// Reads of the embedded approvals store beyond one row by id: the keyset-paged list and the agent's view.
import type { Db } from "../store/sqlite";
import { fromRow, type Row } from "./rows";
import type { AgentApprovalView, Approval, ApprovalStore } from "./types";

type ListFilter = NonNullable<Parameters<ApprovalStore["list"]>[1]>;

/** Newest first (created_at, then approval_id); `after` is the last approval of the previous page. */
export function listApprovals(db: Db, org_id: string, filter: ListFilter): Approval[] {
  const where = ["org_id = @org_id"];
  if (filter.status) where.push("status = @status");
  if (filter.agent_id) where.push("agent_id = @agent_id");
  if (filter.after) {
    where.push("(created_at < @after_created OR (created_at = @after_created AND approval_id > @after_id))");
  }
  const requested = filter.limit ?? 100;
  // The API caps a page at 500; one more may be read to know whether a next page exists.
  const limit = Number.isInteger(requested) ? Math.min(Math.max(requested, 1), 1000) : 100;
  return db
    .prepare<Record<string, unknown>, Row>(
      `SELECT * FROM approvals WHERE ${where.join(" AND ")} ORDER BY created_at DESC, approval_id LIMIT ${limit}`,
    )
    .all({
      org_id,
      status: filter.status,
      agent_id: filter.agent_id,
      after_created: filter.after?.created_at,
      after_id: filter.after?.approval_id,
    })
    .map(fromRow);
}

/** What the agent that asked may see: the outcome, not who decided. */
export function agentViewOf(approval: Approval): AgentApprovalView {
  return {
    approval_id: approval.approval_id,
    status: approval.status,
    action: { type: approval.action.type, tool: approval.action.tool },
    reasons: approval.reasons,
    created_at: approval.created_at,
    expires_at: approval.expires_at,
    decided_at: approval.decided_at,
    decision_reason: approval.decision_reason,
  };
}
