// Approvals in the shared store: create on ESCALATE, decide once, consume once — cluster-wide, because each
// step is one conditional statement (`UPDATE … WHERE status = … RETURNING`) that only one node can win.
import { randomUUID } from "node:crypto";
import { sql, type Transaction } from "kysely";
import {
  approvalBindingHash,
  bindingDifferences,
  DEFAULT_APPROVAL_TTL_MS,
  type Approval,
  type ConsumeInput,
  type ConsumeResult,
  type CreateApprovalInput,
  type DecideResult,
} from "../../approvals";
import type { AnyKysely } from "../postgres";

// biome-ignore lint/suspicious/noExplicitAny: schema from the migrations.
export type Executor = AnyKysely | Transaction<any>;

export interface SharedApprovals {
  create(input: CreateApprovalInput): Promise<Approval>;
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

  async function create(input: CreateApprovalInput): Promise<Approval> {
    const at = now();
    const binding_hash = approvalBindingHash(input);
    const row = {
      approval_id: `appr-${randomUUID()}`,
      org_id: input.org_id,
      uapk_id: input.uapk_id,
      agent_id: input.agent_id,
      action: JSON.stringify(input.action),
      counterparty: input.counterparty === undefined ? null : JSON.stringify(input.counterparty),
      context: input.context === undefined ? null : JSON.stringify(input.context),
      reasons: JSON.stringify(input.reasons),
      // The risk picture operators and webhook receivers weigh, as the embedded store keeps it.
      risk: input.risk === undefined ? null : JSON.stringify(input.risk),
      binding_hash,
      status: "pending",
      interaction_id: input.interaction_id ?? null,
      created_at: at.toISOString(),
      expires_at: new Date(at.getTime() + (input.ttl_ms ?? ttlMs)).toISOString(),
    };
    // Concurrent identical ESCALATEs share the one pending approval (partial unique index on the binding).
    const inserted = await db
      .insertInto("approvals")
      .values(row)
      .onConflict((oc) => oc.columns(["org_id", "binding_hash"]).where("status", "=", sql.lit("pending")).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return fromRow(inserted);
    const pending = await db
      .selectFrom("approvals")
      .selectAll()
      .where("org_id", "=", input.org_id)
      .where("binding_hash", "=", binding_hash)
      .where("status", "=", "pending")
      .executeTakeFirst();
    if (pending) return fromRow(pending);
    return create(input); // decided between our insert and read: ask again
  }

  async function get(orgId: string, approvalId: string, trx: Executor = db): Promise<Approval | null> {
    const row = await trx
      .selectFrom("approvals")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("approval_id", "=", approvalId)
      .executeTakeFirst();
    return row ? fromRow(row) : null;
  }

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
      const bindingHash = input.bindingHash ?? (input.binding ? approvalBindingHash(input.binding) : undefined);
      if (!bindingHash) throw new Error("consume: bindingHash or binding is required");
      const consumed = await trx
        .updateTable("approvals")
        .set({ status: "consumed", consumed_at: at, consumed_by_interaction_id: input.interaction_id ?? null })
        .where("org_id", "=", input.org_id)
        .where("approval_id", "=", input.approval_id)
        .where("status", "=", "approved")
        .where("expires_at", ">", at)
        .where("binding_hash", "=", bindingHash)
        .returningAll()
        .executeTakeFirst();
      if (consumed) return { ok: true, approval: fromRow(consumed) };
      return refusal(input, await get(input.org_id, input.approval_id, trx), at);
    },
  };
}

/** Why an approval could not be consumed (same codes and wording as src/core/approvals). */
function refusal(input: ConsumeInput, current: Approval | null, at: string): ConsumeResult {
  const id = input.approval_id;
  if (!current) return { ok: false, code: "APPROVAL_NOT_FOUND", reason: `Approval ${id} not found` };
  const overdue = (current.status === "pending" || current.status === "approved") && current.expires_at <= at;
  switch (overdue ? "expired" : current.status) {
    case "pending":
      return { ok: false, code: "APPROVAL_PENDING", reason: `Approval ${id} is still waiting for an operator` };
    case "denied":
      return {
        ok: false,
        code: "APPROVAL_DENIED",
        reason: `Approval ${id} was denied${current.decision_reason ? `: ${current.decision_reason}` : ""}`,
      };
    case "cancelled":
      return { ok: false, code: "APPROVAL_DENIED", reason: `Approval ${id} was cancelled with its session` };
    case "expired":
      return { ok: false, code: "APPROVAL_EXPIRED", reason: `Approval ${id} expired at ${current.expires_at}` };
    case "consumed":
      return {
        ok: false,
        code: "APPROVAL_ALREADY_CONSUMED",
        reason: `Approval ${id} was already used at ${current.consumed_at}`,
      };
    default: {
      const differing = input.binding ? bindingDifferences(current, input.binding) : [];
      const what = differing.length ? ` (${differing.join(", ")} differ)` : "";
      return {
        ok: false,
        code: "APPROVAL_BINDING_MISMATCH",
        reason: `Approval ${id} was granted for a different request${what}`,
      };
    }
  }
}

// biome-ignore lint/suspicious/noExplicitAny: a row as the driver returns it.
function fromRow(row: any): Approval {
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
