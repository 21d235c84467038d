// The approvals' statements that both backends run alike, written once: the embedded store compiles them once
// with `$` parameters (src/core/approvals, through ./sqlite-query.ts), the shared store runs them with each call's
// values (./shared/approvals*.ts). Each write is ONE conditional statement (`UPDATE … WHERE status = … RETURNING`),
// so of concurrent callers — or nodes — exactly one wins it.
import type { Kysely } from "kysely";
import type { ApprovalStore } from "../approvals/types";
import type { Database } from "./schema";

type Key = { org_id: string; approval_id: string };
type ListFilter = NonNullable<Parameters<ApprovalStore["list"]>[1]>;

export function selectApproval(b: Kysely<Database>, key: Key) {
  return b
    .selectFrom("approvals")
    .selectAll()
    .where("org_id", "=", key.org_id)
    .where("approval_id", "=", key.approval_id);
}

/** The pending approval asked for exactly this request (same binding hash), if any. */
export function selectPendingByBinding(b: Kysely<Database>, key: { org_id: string; binding_hash: string }) {
  return b
    .selectFrom("approvals")
    .selectAll()
    .where("org_id", "=", key.org_id)
    .where("binding_hash", "=", key.binding_hash)
    .where("status", "=", "pending");
}

/** Spends an approved approval, in time and bound to this request: the single-use step. */
export function consumeApproval(
  b: Kysely<Database>,
  input: Key & { at: string; binding_hash: string; interaction_id: string | null },
) {
  return b
    .updateTable("approvals")
    .set({ status: "consumed", consumed_at: input.at, consumed_by_interaction_id: input.interaction_id })
    .where("org_id", "=", input.org_id)
    .where("approval_id", "=", input.approval_id)
    .where("status", "=", "approved")
    .where("expires_at", ">", input.at)
    .where("binding_hash", "=", input.binding_hash)
    .returningAll();
}

/** Cancels a pending or approved-but-unused approval (its session ended), decided by `gatehouse`. */
export function cancelApproval(b: Kysely<Database>, input: Key & { at: string; reason: string }) {
  return b
    .updateTable("approvals")
    .set({ status: "cancelled", decided_at: input.at, decided_by: "gatehouse", decision_reason: input.reason })
    .where("org_id", "=", input.org_id)
    .where("approval_id", "=", input.approval_id)
    .where("status", "in", ["pending", "approved"])
    .returningAll();
}

/**
 * One page of an org's approvals, newest first (created_at, then approval_id); `after` is the last approval of
 * the previous page (keyset paging: a page never skips or repeats one while others arrive). At most `limit`
 * (1–1000, default 100: the API caps a page at 500 and reads one more to know whether a next page exists).
 */
export function listApprovalsQuery(b: Kysely<Database>, org_id: string, filter: ListFilter) {
  const requested = filter.limit ?? 100;
  const limit = Number.isInteger(requested) ? Math.min(Math.max(requested, 1), 1000) : 100;
  let query = b.selectFrom("approvals").selectAll().where("org_id", "=", org_id);
  if (filter.status) query = query.where("status", "=", filter.status);
  if (filter.agent_id) query = query.where("agent_id", "=", filter.agent_id);
  const after = filter.after;
  if (after)
    query = query.where((eb) =>
      eb.or([
        eb("created_at", "<", after.created_at),
        eb.and([eb("created_at", "=", after.created_at), eb("approval_id", ">", after.approval_id)]),
      ]),
    );
  return query.orderBy("created_at", "desc").orderBy("approval_id").limit(limit);
}
