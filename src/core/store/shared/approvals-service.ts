// The approvals service on the shared store, as the faces use it (src/core/ports.ts ApprovalsService): the
// single-winner statements of ./approvals.ts, plus what the embedded store does around them — lazy expiry (a
// batch at a time, and the approval a request reads or decides), listing, long-poll, cancellation, and the audit
// record of every verdict committed in the SAME transaction as the status change (approve / deny / expiry /
// cancellation: no verdict without its record).
//
// Every transaction that writes a verdict takes the org's chain lock first (./group-commit.ts), the order the
// grouped reservations use too, so a decision and a reservation consuming the same approval never deadlock.
//
// Long-poll: src/core/approvals/waiting.ts (shared with the embedded store). The verdict transactions: ./approvals-verdicts.ts. Reads: ./approvals-queries.ts.
import { type Approval, type DecideResult, type DecisionListener, EXPIRY_BATCH } from "../../approvals";
import { agentViewOf } from "../../approvals/listing";
import { createDecisionWaiters } from "../../approvals/waiting";
import type { EventBus, GatehouseEvent } from "../../events";
import { logger } from "../../log/logger";
import type { ApprovalsService } from "../../ports";
import type { AnyKysely } from "../postgres";
import type { SharedApprovals } from "./approvals";
import { approvalChangesSince, hasOverdue, listApprovals, orgsWithOverdue, readApproval } from "./approvals-queries";
import { cancelIn, decideIn, expireOneIn, sweepIn, type VerdictDeps } from "./approvals-verdicts";
import type { SharedAuditChain } from "./audit-chain";
import type { Escalate } from "../../governance/ports";

const log = logger.child({ module: "approvals" });

export interface SharedApprovalsServiceDeps {
  db: AnyKysely;
  approvals: SharedApprovals;
  audit: SharedAuditChain;
  /** The shared stores' ESCALATE writer (./escalations.ts); without it the service has no `escalate`. */
  escalations?: Escalate;
  events: EventBus;
  pollIntervalMs?: number;
  now?: () => Date;
}

export function createSharedApprovalsService(deps: SharedApprovalsServiceDeps): ApprovalsService {
  const { db, events } = deps;
  const now = deps.now ?? (() => new Date());
  const listeners = new Set<DecisionListener>();
  const verdicts: VerdictDeps = { audit: deps.audit };

  const { announce, committed } = announcerOf(events, listeners);

  /** Expires at most one batch (EXPIRY_BATCH) of the org's overdue approvals; returns how many. */
  async function expire(orgId: string, at = now().toISOString()): Promise<number> {
    // The usual read finds nothing overdue and takes no lock.
    if (!(await hasOverdue(db, orgId, at))) return 0;
    const expired = await db.transaction().execute((trx) => sweepIn(verdicts, trx, orgId, at));
    for (const approval of expired) committed(approval);
    return expired.length;
  }

  const read = (orgId: string, approvalId: string) => readApproval(db, orgId, approvalId);

  async function get(orgId: string, approvalId: string): Promise<Approval | null> {
    const at = now().toISOString();
    await expire(orgId, at);
    const current = await read(orgId, approvalId);
    const open = current?.status === "pending" || current?.status === "approved";
    if (!current || !open || current.expires_at > at) return current;
    // Overdue beyond the batch the sweep took (a burst): this one is brought up to date on its own.
    const expired = await db.transaction().execute((trx) => expireOneIn(verdicts, trx, { orgId, approvalId, at }));
    if (!expired) return read(orgId, approvalId); // another node expired or decided it meanwhile
    committed(expired);
    return expired;
  }

  async function decide(
    orgId: string,
    approvalId: string,
    approved: boolean,
    decision: { by: string; reason?: string | undefined },
  ): Promise<DecideResult> {
    const at = now().toISOString();
    const { result, expired } = await db
      .transaction()
      .execute((trx) => decideIn(verdicts, trx, { orgId, approvalId, at }, approved, decision));
    for (const approval of expired) committed(approval);
    if (result.ok) committed(result.approval);
    return result;
  }

  const waiters = createDecisionWaiters({
    events,
    pollIntervalMs: deps.pollIntervalMs ?? 1000,
    now,
    read: get,
    readStored: read,
  });

  const created = (approval: Approval): Approval => {
    announce({ type: "approval.created", org_id: approval.org_id, approval_id: approval.approval_id });
    return approval;
  };
  const { escalations } = deps;

  const service: ApprovalsService = {
    async create(input) {
      await expire(input.org_id);
      return created(await deps.approvals.create(input));
    },
    // The approval and its audit decision in one transaction; announced once committed.
    ...(escalations
      ? {
          async escalate(input, decision) {
            await expire(input.org_id);
            return created(await escalations(input, decision));
          },
        }
      : {}),

    async list(orgId, filter = {}) {
      await expire(orgId);
      return listApprovals(db, orgId, filter);
    },

    get,

    async getForAgent(orgId, approvalId, agentId) {
      const approval = await get(orgId, approvalId);
      if (!approval || (agentId !== undefined && approval.agent_id !== agentId)) return null;
      return agentViewOf(approval);
    },

    approve: (orgId, approvalId, decision) => decide(orgId, approvalId, true, decision),
    deny: (orgId, approvalId, decision) => decide(orgId, approvalId, false, decision),
    waitForDecision: (orgId, approvalId, timeoutMs, signal) => waiters.wait(orgId, approvalId, timeoutMs, signal),

    async cancel(orgId, approvalId, reason) {
      const at = now().toISOString();
      const cancelled = await db
        .transaction()
        .execute((trx) => cancelIn(verdicts, trx, { orgId, approvalId, at }, reason));
      if (!cancelled) return false;
      waiters.wake(approvalId);
      committed(cancelled);
      return true;
    },

    async expireOverdue(orgId) {
      if (orgId !== undefined) return expire(orgId);
      // The timer's sweep (the notifier's) catches up with bursts: a batch per transaction, so that the other
      // requests of the org get the chain lock in between, until a batch comes back short.
      let total = 0;
      for (const org_id of await orgsWithOverdue(db, now().toISOString())) {
        let expired: number;
        do {
          expired = await expire(org_id);
          total += expired;
        } while (expired === EXPIRY_BATCH);
      }
      return total;
    },

    onDecided(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    changesSince: (orgId, sinceIso) => approvalChangesSince(db, orgId, sinceIso),

    close() {
      waiters.close();
    },
  };
  return service;
}

/** After a commit: this node's listeners (the console feed) and, through the event bus, every node's waiters. */
function announcerOf(events: EventBus, listeners: Set<DecisionListener>) {
  function announce(event: GatehouseEvent): void {
    events
      .publish(event)
      .catch((err) => log.warn({ err: String(err), event: event.type }, "approval event not published"));
  }

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
  return { announce, committed };
}
