// How an approval is stored in the embedded SQLite table `approvals`: the row, its JSON columns, and the reads
// and writes by key that every other module of the store uses.
import { randomUUID } from "node:crypto";
import { boundMembers } from "../audit/bound";
import type { ApprovalsTable } from "../store/schema";
import type { Db } from "../store/sqlite";
import type { Approval, CreateApprovalInput } from "./types";

/** The stored row (JSON columns as text): the `approvals` table of the store schema. */
export type Row = ApprovalsTable;

export function fromRow(row: Row): Approval {
  const parse = (text: string | null) => (text === null ? null : JSON.parse(text));
  return {
    ...row,
    action: parse(row.action),
    counterparty: parse(row.counterparty),
    context: parse(row.context),
    reasons: parse(row.reasons),
    risk: parse(row.risk ?? null),
  };
}

export function selectApproval(db: Db, org_id: string, approval_id: string): Approval | null {
  const row = db
    .prepare<[string, string], Row>("SELECT * FROM approvals WHERE org_id = ? AND approval_id = ?")
    .get(org_id, approval_id);
  return row ? fromRow(row) : null;
}

/** The pending approval asked for exactly this request (same binding hash), if any. */
export function selectPendingByBinding(db: Db, org_id: string, binding_hash: string): Approval | null {
  const row = db
    .prepare<[string, string], Row>(
      "SELECT * FROM approvals WHERE org_id = ? AND binding_hash = ? AND status = 'pending'",
    )
    .get(org_id, binding_hash);
  return row ? fromRow(row) : null;
}

/** A new pending approval's row, created at `created` and expiring `ttlMs` later. */
export function pendingRow(input: CreateApprovalInput, binding_hash: string, created: Date, ttlMs: number): Row {
  return {
    approval_id: `appr-${randomUUID()}`,
    org_id: input.org_id,
    uapk_id: input.uapk_id,
    agent_id: input.agent_id,
    // Bound like the audit log's params: a large argument is kept as its hash, size and a preview. The
    // binding hash covers the full request, so the agent (or the session) re-presents the full
    // arguments to use the approval; the row only has to show an operator what is being asked.
    action: JSON.stringify({
      type: input.action.type,
      tool: input.action.tool,
      params: boundMembers("params", input.action.params ?? {}).value,
    }),
    counterparty: input.counterparty === undefined ? null : JSON.stringify(input.counterparty),
    context: input.context === undefined ? null : JSON.stringify(input.context),
    reasons: JSON.stringify(input.reasons),
    binding_hash,
    status: "pending",
    interaction_id: input.interaction_id ?? null,
    created_at: created.toISOString(),
    expires_at: new Date(created.getTime() + ttlMs).toISOString(),
    decided_at: null,
    decided_by: null,
    decision_reason: null,
    consumed_at: null,
    consumed_by_interaction_id: null,
    risk: input.risk === undefined ? null : JSON.stringify(input.risk),
  };
}

export function insertRow(db: Db, row: Row): void {
  const columns = Object.keys(row);
  db.prepare(`INSERT INTO approvals (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`).run(
    row,
  );
}
