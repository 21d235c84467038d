// Human approvals for ESCALATE decisions, shared by the REST face (operators) and the WebSocket sessions face
// (`hitl_decision`). No HTTP here: handlers map the results to statuses.
//
// Lifecycle: pending → approved | denied | expired | cancelled;  approved → consumed | expired | cancelled.
// `cancelled`: the agent session the approval was asked in was cancelled or abandoned (see `cancel`).
// An approval is *one* execution of *one* exactly-bound request (see binding.ts), within `expires_at`.
//
// An approval can only turn an ESCALATE into an ALLOW, never a DENY: the policy engine evaluates every check
// first, and calls `consumeForExecution` only when the outcome is ESCALATE with no DENY reason. A DENY
// (budget, blocked counterparty, revoked manifest…) stands whatever an operator approved earlier, and the
// approval stays unconsumed.
//
// The store is composed of small modules: rows.ts (the table), expiry.ts, decisions.ts (create / decide /
// cancel), consume.ts, listing.ts and waiting.ts (long-poll); the public types are in types.ts.
import { createMemoryEventBus, type GatehouseEvent } from "../events";
import { logger } from "../log/logger";
import type { Db } from "../store/sqlite";
import { approvalChangesSince } from "./changes";
import { cancelOpen, decidePending, pendingCreator, type WriteDeps } from "./decisions";
import { createExpiry } from "./expiry";
import { agentViewOf, listApprovals } from "./listing";
import { selectApproval } from "./rows";
import type {
  Approval,
  ApprovalStore,
  ApprovalStoreOptions,
  AskedApproval,
  CreateApprovalInput,
  DecideResult,
  DecisionListener,
} from "./types";
import { createDecisionWaiters } from "./waiting";

export { consumeForExecution } from "./consume";
export { EXPIRY_BATCH, expirySql } from "./expiry";
export type {
  AgentApprovalView,
  Approval,
  ApprovalPosition,
  ApprovalRisk,
  ApprovalStatus,
  ApprovalStore,
  ApprovalStoreOptions,
  AskedApproval,
  ConsumeInput,
  ConsumeRefusal,
  ConsumeResult,
  CreateApprovalInput,
  DecideResult,
  DecisionListener,
} from "./types";

const log = logger.child({ module: "approvals" });

export const DEFAULT_APPROVAL_TTL_MS = 24 * 60 * 60 * 1000;

export function createApprovalStore(db: Db, options: ApprovalStoreOptions = {}): ApprovalStore {
  const now = options.now ?? (() => new Date());
  const events = options.events ?? createMemoryEventBus();
  const decisionListeners = new Set<DecisionListener>();
  const notify = (approvals: Approval[]): Approval[] => {
    for (const approval of approvals) for (const listener of decisionListeners) listener(approval);
    return approvals;
  };

  /** Events of a committed change; a lost event only delays waiters until their next re-check. */
  function announce(event: GatehouseEvent): void {
    events
      .publish(event)
      .catch((err) => log.warn({ err: String(err), event: event.type }, "approval event not published"));
  }

  const expiry = createExpiry(db, {
    now,
    notify,
    announceExpired: (expired) => {
      for (const approval of expired)
        announce({ type: "approval.expired", org_id: approval.org_id, approval_id: approval.approval_id });
    },
    sweepMs: options.expirySweepMs ?? 30_000,
  });
  const writes: WriteDeps = { now, notify, expire: expiry.expire, expireOne: expiry.expireOne };

  function get(org_id: string, approval_id: string): Approval | null {
    expiry.expireOne(org_id, approval_id);
    return selectApproval(db, org_id, approval_id);
  }

  const waiters = createDecisionWaiters({
    events,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    now,
    read: get,
    readStored: (org_id, approval_id) => selectApproval(db, org_id, approval_id),
  });

  function decide(
    org_id: string,
    approval_id: string,
    status: "approved" | "denied",
    decision: { by: string; reason?: string | undefined },
  ): DecideResult {
    const result = decidePending(db, writes, org_id, approval_id, status, decision);
    if (result.ok) announce({ type: "approval.decided", org_id, approval_id, status });
    return result;
  }

  const createPending = pendingCreator(db, { ...writes, defaultTtlMs: options.ttlMs ?? DEFAULT_APPROVAL_TTL_MS });
  function ask(input: CreateApprovalInput): AskedApproval {
    const { approval, isNew } = createPending(input);
    return {
      approval,
      announce: () => {
        if (isNew) announce({ type: "approval.created", org_id: approval.org_id, approval_id: approval.approval_id });
      },
    };
  }

  return {
    create(input) {
      const asked = ask(input);
      asked.announce();
      return asked.approval;
    },
    ask,
    list(org_id, filter = {}) {
      expiry.expire(org_id);
      return listApprovals(db, org_id, filter);
    },
    get,
    getForAgent(org_id, approval_id, agent_id) {
      const approval = get(org_id, approval_id);
      if (!approval || (agent_id !== undefined && approval.agent_id !== agent_id)) return null;
      return agentViewOf(approval);
    },
    approve: (org_id, approval_id, decision) => decide(org_id, approval_id, "approved", decision),
    deny: (org_id, approval_id, decision) => decide(org_id, approval_id, "denied", decision),
    waitForDecision: (org_id, approval_id, timeoutMs, signal) => waiters.wait(org_id, approval_id, timeoutMs, signal),
    cancel(org_id, approval_id, reason) {
      if (!cancelOpen(db, writes, org_id, approval_id, reason)) return false;
      waiters.wake(approval_id);
      announce({ type: "approval.decided", org_id, approval_id, status: "cancelled" });
      return true;
    },
    expireOverdue: (org_id) => expiry.expire(org_id),
    changesSince: (org_id, sinceIso) => approvalChangesSince(db, org_id, sinceIso),
    onDecided(listener) {
      decisionListeners.add(listener);
      return () => decisionListeners.delete(listener);
    },
    close() {
      expiry.close();
      waiters.close();
    },
  };
}
