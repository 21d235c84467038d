// Reads of the embedded approvals store beyond one row by id: the keyset-paged list and the agent's view.
import { sql } from "kysely";
import type { Db } from "../store/sqlite";
import { listApprovalsQuery } from "../store/approval-queries";
import { compiledQuery, sqliteBuilder } from "../store/sqlite-query";
import { fromRow } from "./rows";
import type { AgentApprovalView, Approval, ApprovalStore } from "./types";

type ListFilter = NonNullable<Parameters<ApprovalStore["list"]>[1]>;

/** Newest first (created_at, then approval_id); `after` is the last approval of the previous page. */
export function listApprovals(db: Db, org_id: string, filter: ListFilter): Approval[] {
  return compiledQuery(db, listApprovalsQuery(sqliteBuilder, org_id, filter))
    .all()
    .map(fromRow);
}

/**
 * Every org's pending approvals asked on one channel (`context.channel`, e.g. a session's turn), oldest first.
 * A context that is not JSON (never written by the stores) matches no channel.
 */
export function pendingOnChannel(db: Db, channel: string): { org_id: string; approval_id: string }[] {
  const query = sqliteBuilder
    .selectFrom("approvals")
    .select(["org_id", "approval_id"])
    .where("status", "=", "pending")
    .where(sql<unknown>`CASE WHEN json_valid(context) THEN json_extract(context, '$.channel') END`, "=", channel)
    .orderBy("created_at")
    .orderBy("approval_id");
  return compiledQuery(db, query).all();
}

/**
 * What the agent that asked may see: the outcome and until when it holds, not who decided nor the operator's note
 * (as the REST face's AgentApproval, src/http/wire-models.ts toAgentApproval).
 */
export function agentViewOf(approval: Approval): AgentApprovalView {
  return {
    approval_id: approval.approval_id,
    status: approval.status,
    action: { type: approval.action.type, tool: approval.action.tool },
    reasons: approval.reasons,
    created_at: approval.created_at,
    expires_at: approval.expires_at,
    decided_at: approval.decided_at,
  };
}
