// How an approval is stored in the embedded SQLite table `approvals`: the row, its JSON columns, and the reads
// and writes by key that every other module of the store uses.
import { randomUUID } from "node:crypto";
import { boundMembers } from "../audit/bound";
import type { ApprovalsTable } from "../store/schema";
import * as queries from "../store/approval-queries";
import { paramsOf, sqliteQuery } from "../store/sqlite-query";
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
    redact: parse(row.redact ?? null),
  };
}

type Key = { org_id: string; approval_id: string };

/** The embedded store's approval statements, built once per database (see src/core/store/approval-queries.ts). */
function build(db: Db) {
  return {
    byId: sqliteQuery(db, (b, $: Key) => queries.selectApproval(b, $)),
    pendingByBinding: sqliteQuery(db, (b, $: { org_id: string; binding_hash: string }) =>
      queries.selectPendingByBinding(b, $),
    ),
    insert: sqliteQuery(db, (b, $: Row) => b.insertInto("approvals").values(paramsOf($, APPROVAL_COLUMNS))),
    consume: sqliteQuery(db, (b, $: Parameters<typeof queries.consumeApproval>[1]) => queries.consumeApproval(b, $)),
    cancel: sqliteQuery(db, (b, $: Parameters<typeof queries.cancelApproval>[1]) => queries.cancelApproval(b, $)),
    decide: sqliteQuery(
      db,
      (b, $: Key & { status: "approved" | "denied"; at: string; by: string; reason: string | null }) =>
        b
          .updateTable("approvals")
          .set({ status: $.status, decided_at: $.at, decided_by: $.by, decision_reason: $.reason })
          .where("org_id", "=", $.org_id)
          .where("approval_id", "=", $.approval_id)
          .where("status", "=", "pending")
          .where("expires_at", ">", $.at)
          .returningAll(),
    ),
  };
}

const built = new WeakMap<Db, ReturnType<typeof build>>();

export function approvalStatements(db: Db): ReturnType<typeof build> {
  let statements = built.get(db);
  if (!statements) {
    statements = build(db);
    built.set(db, statements);
  }
  return statements;
}

export function selectApproval(db: Db, org_id: string, approval_id: string): Approval | null {
  const row = approvalStatements(db).byId.get({ org_id, approval_id });
  return row ? fromRow(row) : null;
}

/** The pending approval asked for exactly this request (same binding hash), if any. */
export function selectPendingByBinding(db: Db, org_id: string, binding_hash: string): Approval | null {
  const row = approvalStatements(db).pendingByBinding.get({ org_id, binding_hash });
  return row ? fromRow(row) : null;
}

/**
 * The action as an approval row keeps it (both backends). Bound like the audit log's params: a large argument is
 * kept as its hash, size and a preview. The binding hash covers the full request, so the agent (or the session)
 * re-presents the full arguments to use the approval; the row only has to show an operator what is being asked.
 */
export function storedActionOf(input: CreateApprovalInput): string {
  return JSON.stringify({
    type: input.action.type,
    tool: input.action.tool,
    params: boundMembers("params", input.action.params ?? {}).value,
  });
}

/** The tool's redaction paths when the approval is asked for, as the row keeps them (both backends). */
export function redactColumnOf(input: CreateApprovalInput): string | null {
  return input.redact?.length ? JSON.stringify(input.redact) : null;
}

/** A new pending approval's row, created at `created` and expiring `ttlMs` later. */
export function pendingRow(input: CreateApprovalInput, binding_hash: string, created: Date, ttlMs: number): Row {
  return {
    approval_id: `appr-${randomUUID()}`,
    org_id: input.org_id,
    uapk_id: input.uapk_id,
    agent_id: input.agent_id,
    action: storedActionOf(input),
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
    redact: redactColumnOf(input),
  };
}

export function insertRow(db: Db, row: Row): void {
  approvalStatements(db).insert.run(row);
}

const APPROVAL_COLUMNS = [
  "approval_id",
  "org_id",
  "uapk_id",
  "agent_id",
  "action",
  "counterparty",
  "context",
  "reasons",
  "binding_hash",
  "status",
  "interaction_id",
  "created_at",
  "expires_at",
  "decided_at",
  "decided_by",
  "decision_reason",
  "consumed_at",
  "consumed_by_interaction_id",
  "risk",
  "redact",
] as const satisfies readonly (keyof Row)[];
