// The approvals service on the shared store, as the faces use it (src/core/ports.ts ApprovalsService): the
// single-winner statements of ./approvals.ts, plus what the embedded store does around them — lazy expiry,
// listing, long-poll, cancellation, and the audit record of every verdict committed in the SAME transaction
// as the status change (approve / deny / expiry: no verdict without its record).
//
// Every transaction that writes a verdict takes the org's chain lock first (./group-commit.ts), the order the
// grouped reservations use too, so a decision and a reservation consuming the same approval never deadlock.
//
// Long-poll: a waiter wakes on the event bus (Redis pub/sub: a decision on another node reaches it within the
// publish latency, milliseconds) and re-reads the row every `pollIntervalMs` anyway (a lost event only delays).
import { EventEmitter } from "node:events";
import type { AgentApprovalView, Approval, DecideResult, DecisionListener } from "../../approvals";
import type { ApprovalChange } from "../../approvals/changes";
import type { EventBus, GatehouseEvent } from "../../events";
import { approvalVerdictRecord } from "../../governance/approval-audit-listener";
import { logger } from "../../log/logger";
import { capabilityOf } from "../../policy/types";
import type { ApprovalsService } from "../../ports";
import type { AnyKysely } from "../postgres";
import { fromRow, type SharedApprovals } from "./approvals";
import type { SharedAuditChain } from "./audit-chain";
import { lockOrgChain, type Trx } from "./group-commit";
import type { SharedManifests } from "./manifests";

const log = logger.child({ module: "approvals" });

export interface SharedApprovalsServiceDeps {
  db: AnyKysely;
  approvals: SharedApprovals;
  audit: SharedAuditChain;
  manifests: Pick<SharedManifests, "getByUapkId">;
  events: EventBus;
  pollIntervalMs?: number;
  now?: () => Date;
}

export function createSharedApprovalsService(deps: SharedApprovalsServiceDeps): ApprovalsService {
  const { db, events } = deps;
  const now = deps.now ?? (() => new Date());
  const pollIntervalMs = deps.pollIntervalMs ?? 1000;
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const wake = (event: { approval_id: string }) => changes.emit(event.approval_id);
  const unsubscribe = [events.subscribe("approval.decided", wake), events.subscribe("approval.expired", wake)];
  const closers = new Set<() => void>();
  const listeners = new Set<DecisionListener>();

  function announce(event: GatehouseEvent): void {
    events
      .publish(event)
      .catch((err) => log.warn({ err: String(err), event: event.type }, "approval event not published"));
  }

  /** After the commit: this node's listeners (console feed) and every node's waiters. */
  function committed(approval: Approval): void {
    for (const listener of listeners) {
      try {
        listener(approval);
      } catch (err) {
        log.warn({ err: String(err) }, "approval listener failed");
      }
    }
    if (approval.status === "expired")
      announce({ type: "approval.expired", org_id: approval.org_id, approval_id: approval.approval_id });
    else
      announce({
        type: "approval.decided",
        org_id: approval.org_id,
        approval_id: approval.approval_id,
        status: approval.status,
      });
  }

  async function recordVerdict(trx: Trx, approval: Approval): Promise<void> {
    const manifest = await deps.manifests.getByUapkId(approval.org_id, approval.uapk_id);
    const redact = manifest?.tools[capabilityOf(approval.action)]?.redact;
    const verdict = approvalVerdictRecord(approval, redact);
    if (verdict) await deps.audit.appendApprovalDecision(verdict, trx);
  }

  const overdue = (orgId: string, at: string) =>
    db
      .selectFrom("approvals")
      .select("approval_id")
      .where("org_id", "=", orgId)
      .where("status", "in", ["pending", "approved"])
      .where("expires_at", "<=", at)
      .limit(1)
      .executeTakeFirst();

  /** Expires the org's overdue approvals with their audit records, in a transaction holding the chain lock. */
  async function sweepIn(trx: Trx, orgId: string, at: string): Promise<Approval[]> {
    await lockOrgChain(trx, orgId);
    const rows = await trx
      .updateTable("approvals")
      .set({ status: "expired" })
      .where("org_id", "=", orgId)
      .where("status", "in", ["pending", "approved"])
      .where("expires_at", "<=", at)
      .returningAll()
      .execute();
    const expired = rows.map(fromRow);
    for (const approval of expired) await recordVerdict(trx, approval);
    return expired;
  }

  async function expire(orgId: string): Promise<number> {
    const at = now().toISOString();
    // The usual read finds nothing overdue and takes no lock.
    if (!(await overdue(orgId, at))) return 0;
    const expired = await db.transaction().execute((trx) => sweepIn(trx, orgId, at));
    for (const approval of expired) committed(approval);
    return expired.length;
  }

  async function read(orgId: string, approvalId: string): Promise<Approval | null> {
    const row = await db
      .selectFrom("approvals")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("approval_id", "=", approvalId)
      .executeTakeFirst();
    return row ? fromRow(row) : null;
  }

  async function get(orgId: string, approvalId: string): Promise<Approval | null> {
    await expire(orgId);
    return read(orgId, approvalId);
  }

  async function decide(
    orgId: string,
    approvalId: string,
    approved: boolean,
    decision: { by: string; reason?: string | undefined },
  ): Promise<DecideResult> {
    const at = now().toISOString();
    const { result, expired } = await db.transaction().execute(async (trx) => {
      const expired = await sweepIn(trx, orgId, at);
      const row = await trx
        .updateTable("approvals")
        .set({
          status: approved ? "approved" : "denied",
          decided_at: at,
          decided_by: decision.by,
          decision_reason: decision.reason ?? null,
        })
        .where("org_id", "=", orgId)
        .where("approval_id", "=", approvalId)
        .where("status", "=", "pending")
        .returningAll()
        .executeTakeFirst();
      if (row) {
        const approval = fromRow(row);
        await recordVerdict(trx, approval);
        return { result: { ok: true, approval } as DecideResult, expired };
      }
      const current = await trx
        .selectFrom("approvals")
        .selectAll()
        .where("org_id", "=", orgId)
        .where("approval_id", "=", approvalId)
        .executeTakeFirst();
      if (!current)
        return {
          result: { ok: false, code: "NOT_FOUND", reason: `Approval ${approvalId} not found` } as DecideResult,
          expired,
        };
      const approval = fromRow(current);
      if (approval.status === "expired")
        return {
          result: {
            ok: false,
            code: "EXPIRED",
            reason: `Approval ${approvalId} expired at ${approval.expires_at}`,
            approval,
          } as DecideResult,
          expired,
        };
      return {
        result: {
          ok: false,
          code: "NOT_PENDING",
          reason: `Approval ${approvalId} is already ${approval.status}`,
          approval,
        } as DecideResult,
        expired,
      };
    });
    for (const approval of expired) committed(approval);
    if (result.ok) committed(result.approval);
    return result;
  }

  const service: ApprovalsService = {
    async create(input) {
      await expire(input.org_id);
      const approval = await deps.approvals.create(input);
      announce({ type: "approval.created", org_id: approval.org_id, approval_id: approval.approval_id });
      return approval;
    },

    async list(orgId, filter = {}) {
      await expire(orgId);
      const requested = filter.limit ?? 100;
      // The API caps a page at 500; the handler reads one more to know whether a next page exists (clamping to
      // 500 here lost the next_cursor of a full maximum page), so allow what the embedded store allows.
      const limit = Number.isInteger(requested) ? Math.min(Math.max(requested, 1), 1000) : 100;
      let query = db.selectFrom("approvals").selectAll().where("org_id", "=", orgId);
      if (filter.status) query = query.where("status", "=", filter.status);
      if (filter.agent_id) query = query.where("agent_id", "=", filter.agent_id);
      // Keyset paging in the list's own order (newest first, then approval_id), as the embedded store does.
      const after = filter.after;
      if (after)
        query = query.where((eb) =>
          eb.or([
            eb("created_at", "<", after.created_at),
            eb.and([eb("created_at", "=", after.created_at), eb("approval_id", ">", after.approval_id)]),
          ]),
        );
      const rows = await query.orderBy("created_at", "desc").orderBy("approval_id").limit(limit).execute();
      return rows.map(fromRow);
    },

    get,

    async getForAgent(orgId, approvalId, agentId) {
      const approval = await get(orgId, approvalId);
      if (!approval || (agentId !== undefined && approval.agent_id !== agentId)) return null;
      return agentView(approval);
    },

    approve: (orgId, approvalId, decision) => decide(orgId, approvalId, true, decision),
    deny: (orgId, approvalId, decision) => decide(orgId, approvalId, false, decision),

    async waitForDecision(orgId, approvalId, timeoutMs, signal) {
      const current = await get(orgId, approvalId);
      if (!current || current.status !== "pending" || timeoutMs <= 0 || signal?.aborted) return current;
      return new Promise((resolve) => {
        let done = false;
        let checking = false;
        const check = async () => {
          if (done || checking) return;
          checking = true;
          try {
            const latest = await get(orgId, approvalId);
            if (!latest || latest.status !== "pending") finish(latest);
          } catch {
            // the database does not answer now: the next re-check or the timeout answers
          } finally {
            checking = false;
          }
        };
        const finish = (value: Approval | null) => {
          if (done) return;
          done = true;
          clearTimeout(timeout);
          clearTimeout(expiry);
          clearInterval(poll);
          changes.off(approvalId, onChange);
          signal?.removeEventListener("abort", onAbort);
          closers.delete(onAbort);
          resolve(value);
        };
        const onChange = () => void check();
        const lastRead = () =>
          read(orgId, approvalId).then(
            (value) => finish(value),
            () => finish(current),
          );
        const onAbort = () => void lastRead();
        const timeout = setTimeout(() => void lastRead(), timeoutMs);
        // Wake exactly when it expires, so the waiter hears "expired" rather than a stale "pending".
        const untilExpiry = Date.parse(current.expires_at) - now().getTime();
        const expiry = setTimeout(onChange, Math.min(Math.max(untilExpiry, 0) + 1, 2 ** 31 - 1)).unref();
        const poll = setInterval(onChange, pollIntervalMs).unref();
        changes.on(approvalId, onChange);
        signal?.addEventListener("abort", onAbort, { once: true });
        closers.add(onAbort);
      });
    },

    async cancel(orgId, approvalId, reason) {
      const row = await db
        .updateTable("approvals")
        .set({ status: "cancelled", decided_at: now().toISOString(), decided_by: "gatehouse", decision_reason: reason })
        .where("org_id", "=", orgId)
        .where("approval_id", "=", approvalId)
        .where("status", "in", ["pending", "approved"])
        .returningAll()
        .executeTakeFirst();
      if (!row) return false;
      announce({ type: "approval.decided", org_id: orgId, approval_id: approvalId, status: "cancelled" });
      return true;
    },

    async expireOverdue(orgId) {
      if (orgId !== undefined) return expire(orgId);
      const orgs = await db
        .selectFrom("approvals")
        .select("org_id")
        .distinct()
        .where("status", "in", ["pending", "approved"])
        .where("expires_at", "<=", now().toISOString())
        .execute();
      let total = 0;
      for (const { org_id } of orgs) total += await expire(org_id as string);
      return total;
    },

    onDecided(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async changesSince(orgId, sinceIso) {
      const rows = await db
        .selectFrom("approvals")
        .select(["approval_id", "status", "created_at", "decided_at", "consumed_at"])
        .where("org_id", "=", orgId)
        .where((eb) =>
          eb.or([
            eb("created_at", ">=", sinceIso),
            eb("decided_at", ">=", sinceIso),
            eb("consumed_at", ">=", sinceIso),
          ]),
        )
        .execute();
      const changed: ApprovalChange[] = rows.map((row) => ({
        approval_id: row.approval_id as string,
        status: row.status as string,
        changed_at: [row.created_at, row.decided_at ?? "", row.consumed_at ?? ""].sort().at(-1) as string,
      }));
      return changed.sort((a, b) => a.changed_at.localeCompare(b.changed_at)).slice(0, 500);
    },

    close() {
      for (const stop of unsubscribe) stop();
      for (const stop of Array.from(closers)) stop();
    },
  };
  return service;
}

function agentView(approval: Approval): AgentApprovalView {
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
