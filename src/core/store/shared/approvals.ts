// Approvals in the shared store: create on ESCALATE, decide once, consume once — cluster-wide, because each
// step is one conditional statement (`UPDATE … WHERE status = … RETURNING`) that only one node can win.
import { randomUUID } from "node:crypto";
import { sql, type Transaction } from "kysely";
import {
  approvalBindingHash,
  DEFAULT_APPROVAL_TTL_MS,
  type Approval,
  type ConsumeInput,
  type ConsumeResult,
  type CreateApprovalInput,
  type DecideResult,
} from "../../approvals";
import { consumeBindingHash, consumeRefusal } from "../../approvals/consume-decision";
import { fromRow, redactColumnOf, storedActionOf } from "../../approvals/rows";
import { readApproval } from "./approvals-queries";
import { consumeApproval, selectPendingByBinding } from "../approval-queries";
import type { AnyKysely } from "../postgres";
import type { Database } from "../schema";

export type Executor = AnyKysely | Transaction<Database>;

export interface SharedApprovals {
  /** Within `trx` when given (an ESCALATE's transaction, with its audit decision). */
  create(input: CreateApprovalInput, trx?: Executor): Promise<Approval>;
  get(orgId: string, approvalId: string): Promise<Approval | null>;
  decide(orgId: string, approvalId: string, verdict: Verdict): Promise<DecideResult>;
  /** Spends an approved approval for one execution; within `trx` when given (the reservation's transaction). */
  consume(input: ConsumeInput, trx?: Executor): Promise<ConsumeResult>;
}

export interface Verdict {
  approved: boolean;
  decided_by: string;
  reason?: string;
}

export function createSharedApprovals(
  db: AnyKysely,
  options: { now?: () => Date; ttlMs?: number } = {},
): SharedApprovals {
  const now = options.now ?? (() => new Date());
  const ttlMs = options.ttlMs ?? DEFAULT_APPROVAL_TTL_MS;

  async function create(input: CreateApprovalInput, trx: Executor = db): Promise<Approval> {
    const at = now();
    const binding_hash = approvalBindingHash(input);
    const row = {
      approval_id: `appr-${randomUUID()}`,
      org_id: input.org_id,
      uapk_id: input.uapk_id,
      agent_id: input.agent_id,
      // Bounded as the embedded store bounds it: every view of the approval (a page of 100, each webhook) reads it.
      action: storedActionOf(input),
      counterparty: input.counterparty === undefined ? null : JSON.stringify(input.counterparty),
      context: input.context === undefined ? null : JSON.stringify(input.context),
      reasons: JSON.stringify(input.reasons),
      // The risk picture operators and webhook receivers weigh, as the embedded store keeps it.
      risk: input.risk === undefined ? null : JSON.stringify(input.risk),
      redact: redactColumnOf(input),
      binding_hash,
      status: "pending" as const,
      interaction_id: input.interaction_id ?? null,
      created_at: at.toISOString(),
      expires_at: new Date(at.getTime() + (input.ttl_ms ?? ttlMs)).toISOString(),
    };
    // Concurrent identical ESCALATEs share the one pending approval (partial unique index on the binding).
    const inserted = await trx
      .insertInto("approvals")
      .values(row)
      .onConflict((oc) => oc.columns(["org_id", "binding_hash"]).where("status", "=", sql.lit("pending")).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return fromRow(inserted);
    const pending = await selectPendingByBinding(trx, { org_id: input.org_id, binding_hash }).executeTakeFirst();
    if (pending) return fromRow(pending);
    return create(input, trx); // decided between our insert and read: ask again
  }

  const get = (orgId: string, approvalId: string, trx: Executor = db) => readApproval(trx, orgId, approvalId);

  return {
    create,
    get: (orgId, approvalId) => get(orgId, approvalId),

    async decide(orgId, approvalId, verdict) {
      const at = now().toISOString();
      const row = await db
        .updateTable("approvals")
        .set({
          status: verdict.approved ? "approved" : "denied",
          decided_at: at,
          decided_by: verdict.decided_by,
          decision_reason: verdict.reason ?? null,
        })
        .where("org_id", "=", orgId)
        .where("approval_id", "=", approvalId)
        .where("status", "=", "pending")
        .where("expires_at", ">", at)
        .returningAll()
        .executeTakeFirst();
      if (row) return { ok: true, approval: fromRow(row) };
      const current = await get(orgId, approvalId);
      if (!current) return { ok: false, code: "NOT_FOUND", reason: `Approval ${approvalId} not found` };
      if (current.status === "pending")
        return { ok: false, code: "EXPIRED", reason: `Approval ${approvalId} expired`, approval: current };
      return {
        ok: false,
        code: "NOT_PENDING",
        reason: `Approval ${approvalId} is ${current.status}`,
        approval: current,
      };
    },

    async consume(input, trx = db) {
      const at = (input.now ?? now()).toISOString();
      const bindingHash = consumeBindingHash(input);
      const consumed = await consumeApproval(trx, {
        org_id: input.org_id,
        approval_id: input.approval_id,
        at,
        binding_hash: bindingHash,
        interaction_id: input.interaction_id ?? null,
      }).executeTakeFirst();
      if (consumed) return { ok: true, approval: fromRow(consumed) };
      return consumeRefusal(input, await get(input.org_id, input.approval_id, trx), at);
    },
  };
}
