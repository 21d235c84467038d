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
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { createMemoryEventBus, type EventBus, type GatehouseEvent } from "../events";
import { boundMembers } from "../audit/bound";
import { logger } from "../log/logger";
import type { Db } from "../store/sqlite";
import { approvalBindingHash, bindingDifferences, type ApprovalAction, type ApprovalBinding } from "./binding";
import { approvalChangesSince, type ApprovalChange } from "./changes";

export type ApprovalStatus = "pending" | "approved" | "denied" | "expired" | "consumed" | "cancelled";

export interface Approval {
  approval_id: string;
  org_id: string;
  uapk_id: string;
  agent_id: string;
  action: ApprovalAction;
  counterparty: unknown;
  context: unknown;
  reasons: unknown[];
  binding_hash: string;
  status: ApprovalStatus;
  /** The ESCALATE interaction that asked for it, when known. */
  interaction_id: string | null;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  decision_reason: string | null;
  consumed_at: string | null;
  /** The interaction that executed under this approval. */
  consumed_by_interaction_id: string | null;
  /** The risk picture when it was asked for (null on approvals older than migration 0004). */
  risk?: ApprovalRisk | null;
}

/** What an operator weighs (spec: ApprovalRisk), taken from the policy's decision at creation. */
export interface ApprovalRisk {
  amount?: number;
  currency?: string;
  recipients: string[];
  reason_codes: string[];
  budget?: { budget_current: number; budget_limit: number; budget_percent: number };
}

/** What the agent that asked may see: the outcome, not who decided. */
export interface AgentApprovalView {
  approval_id: string;
  status: ApprovalStatus;
  action: { type: string; tool: string };
  reasons: unknown[];
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decision_reason: string | null;
}

export interface CreateApprovalInput extends ApprovalBinding {
  org_id: string;
  reasons: unknown[];
  interaction_id?: string;
  risk?: ApprovalRisk;
  /** Overrides the store's default time to live. */
  ttl_ms?: number;
}

export type DecideResult =
  | { ok: true; approval: Approval }
  | { ok: false; code: "NOT_FOUND" | "NOT_PENDING" | "EXPIRED"; reason: string; approval?: Approval };

export type ConsumeRefusal =
  | "APPROVAL_NOT_FOUND"
  | "APPROVAL_PENDING"
  | "APPROVAL_DENIED"
  | "APPROVAL_EXPIRED"
  | "APPROVAL_ALREADY_CONSUMED"
  | "APPROVAL_BINDING_MISMATCH";

export type ConsumeResult = { ok: true; approval: Approval } | { ok: false; code: ConsumeRefusal; reason: string };

export interface ConsumeInput {
  org_id: string;
  approval_id: string;
  /** approvalBindingHash() of the request being executed now. Give this or `binding`. */
  bindingHash?: string;
  /** The request being executed now; lets a mismatch name what differs. */
  binding?: ApprovalBinding;
  /** The interaction executing under the approval, kept for the audit trail. */
  interaction_id?: string;
  now?: Date;
}

/** Where a page of approvals ended: the sort key of its last approval. */
export interface ApprovalPosition {
  created_at: string;
  approval_id: string;
}

export interface ApprovalStore {
  /** A new pending approval, or the existing pending one for the same binding (no duplicate for a retry). */
  create(input: CreateApprovalInput): Approval;
  /**
   * Approvals newest first (created_at, then approval_id), at most `limit` (1–500, default 100); `after` is the
   * last approval of the previous page (keyset paging: a page never skips or repeats one while others arrive).
   */
  list(
    org_id: string,
    filter?: { status?: ApprovalStatus; agent_id?: string; limit?: number; after?: ApprovalPosition },
  ): Approval[];
  get(org_id: string, approval_id: string): Approval | null;
  getForAgent(org_id: string, approval_id: string, agent_id?: string): AgentApprovalView | null;
  approve(org_id: string, approval_id: string, decision: { by: string; reason?: string | undefined }): DecideResult;
  deny(org_id: string, approval_id: string, decision: { by: string; reason?: string | undefined }): DecideResult;
  /**
   * Resolves with the approval as soon as it is no longer pending (approved, denied, expired), or with its
   * pending state after `timeoutMs`; null if it does not exist. For long-polling and the WS face.
   */
  waitForDecision(
    org_id: string,
    approval_id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Approval | null>;
  /**
   * Resolves a pending (or approved, still unused) approval as `cancelled`: its session was cancelled or
   * abandoned, so nobody may decide or use it any more. False when it was no longer open.
   */
  cancel(org_id: string, approval_id: string, reason: string): boolean;
  /** Marks overdue pending/approved approvals `expired` now (also done lazily on every read). */
  expireOverdue(org_id?: string): number;
  /**
   * Calls `listener` with every approval that reaches a verdict: approved or denied by an operator, or
   * `expired` (found past `expires_at` while pending, or approved but never used). It runs INSIDE the
   * transaction that records the new status: if the listener throws (e.g. the audit log cannot be written),
   * the change is rolled back and the caller gets the error — no verdict is stored without its record.
   * Returns an unsubscribe function.
   */
  onDecided(listener: DecisionListener): () => void;
  /** Approvals created, decided or consumed at or after `sinceIso` (see ./changes.ts). */
  changesSince(org_id: string, sinceIso: string): ApprovalChange[];
  /** Stops the timers and pollers of pending waits. */
  close(): void;
}

export type DecisionListener = (approval: Approval) => void;

export interface ApprovalStoreOptions {
  /** Default time to live of a new approval; 24 h unless configured. */
  ttlMs?: number;
  now?: () => Date;
  /**
   * Waiters re-read the row this often: the safety net for a decision whose event was lost, or taken by a
   * process that publishes none (events wake waiters at once).
   */
  pollIntervalMs?: number;
  /**
   * Where created/decided/expired are published and heard (src/core/events). With the Redis bus a decision
   * taken on another node wakes this node's waiters; the default is in-process.
   */
  events?: EventBus;
  /** Every this many ms, overdue approvals of every org are expired (and audited); 0 = only on reads. */
  expirySweepMs?: number;
}

const log = logger.child({ module: "approvals" });

export const DEFAULT_APPROVAL_TTL_MS = 24 * 60 * 60 * 1000;

interface Row {
  approval_id: string;
  org_id: string;
  uapk_id: string;
  agent_id: string;
  action: string;
  counterparty: string | null;
  context: string | null;
  reasons: string;
  binding_hash: string;
  status: ApprovalStatus;
  interaction_id: string | null;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  decision_reason: string | null;
  consumed_at: string | null;
  consumed_by_interaction_id: string | null;
  risk: string | null;
}

function fromRow(row: Row): Approval {
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

function selectApproval(db: Db, org_id: string, approval_id: string): Approval | null {
  const row = db
    .prepare<[string, string], Row>("SELECT * FROM approvals WHERE org_id = ? AND approval_id = ?")
    .get(org_id, approval_id);
  return row ? fromRow(row) : null;
}

/** At most this many overdue approvals are expired by one call; the store's timer takes care of the rest. */
export const EXPIRY_BATCH = 200;

/**
 * Statements that find and expire pending or approved-but-unused approvals past `expires_at`, for one org or
 * all of them. Both go through the expiry indexes of migration 0005 (status, expires_at), so the work is the
 * overdue rows only, never every pending one, and one sweep expires at most EXPIRY_BATCH of them. The probe is
 * read-only, so that the usual read (nothing overdue) does not take the write lock.
 */
const overdue = (scope: string) => `status IN ('pending', 'approved') AND expires_at <= @now ${scope}`;

/** The expiry SQL, by scope (exported so a test can check its query plan). */
export function expirySql(scope: "org" | "all"): { probe: string; sweep: string } {
  const where = overdue(scope === "org" ? "AND org_id = @org_id" : "");
  return {
    probe: `SELECT 1 AS found FROM approvals WHERE ${where} LIMIT 1`,
    sweep: `UPDATE approvals SET status = 'expired' WHERE approval_id IN
         (SELECT approval_id FROM approvals WHERE ${where} LIMIT ${EXPIRY_BATCH})
       RETURNING *`,
  };
}

function expiryStatements(db: Db) {
  const forScope = (scope: "org" | "all") => ({
    probe: db.prepare<{ now: string; org_id?: string }, { found: 1 }>(expirySql(scope).probe),
    sweep: db.prepare<{ now: string; org_id?: string }, Row>(expirySql(scope).sweep),
  });
  const org = forScope("org");
  const all = forScope("all");
  const one = db.prepare<{ now: string; org_id: string; approval_id: string }, Row>(
    `UPDATE approvals SET status = 'expired'
     WHERE org_id = @org_id AND approval_id = @approval_id AND ${overdue("")} RETURNING *`,
  );
  return { scope: (org_id?: string) => (org_id === undefined ? all : org), one };
}

export function createApprovalStore(db: Db, options: ApprovalStoreOptions = {}): ApprovalStore {
  const now = options.now ?? (() => new Date());
  const defaultTtl = options.ttlMs ?? DEFAULT_APPROVAL_TTL_MS;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const events = options.events ?? createMemoryEventBus();
  // Waiters listen on `changes` by approval id; the bus (this node's and every other node's decisions) feeds it.
  const wake = (event: { approval_id: string }) => changes.emit(event.approval_id);
  const unsubscribe = [events.subscribe("approval.decided", wake), events.subscribe("approval.expired", wake)];
  const closers = new Set<() => void>();
  const decisionListeners = new Set<DecisionListener>();

  // Expiry is a verdict too: the listeners (the audit log) run in the same transaction as the status change.
  const expiry = expiryStatements(db);
  const scoped = (at: Date, org_id?: string) =>
    org_id === undefined ? { now: at.toISOString() } : { now: at.toISOString(), org_id };
  const notify = (approvals: Approval[]): Approval[] => {
    for (const approval of approvals) for (const listener of decisionListeners) listener(approval);
    return approvals;
  };
  const sweepAndNotify = db.transaction((at: Date, org_id?: string): Approval[] =>
    notify(expiry.scope(org_id).sweep.all(scoped(at, org_id)).map(fromRow)),
  );
  // One approval read by id is brought up to date even when a burst left more overdue than one sweep takes.
  const expireOneAndNotify = db.transaction((at: Date, org_id: string, approval_id: string): Approval[] =>
    notify(expiry.one.all({ now: at.toISOString(), org_id, approval_id }).map(fromRow)),
  );

  /** Events of a committed change; a lost event only delays waiters until their next re-check. */
  function announce(event: GatehouseEvent): void {
    events
      .publish(event)
      .catch((err) => log.warn({ err: String(err), event: event.type }, "approval event not published"));
  }

  function announceExpired(expired: Approval[]): number {
    for (const approval of expired)
      announce({ type: "approval.expired", org_id: approval.org_id, approval_id: approval.approval_id });
    return expired.length;
  }

  /** Expires at most EXPIRY_BATCH overdue approvals of the org (or of every org). */
  function expire(org_id?: string): number {
    const at = now();
    if (!expiry.scope(org_id).probe.get(scoped(at, org_id))) return 0;
    // IMMEDIATE when on its own (a read found something overdue); a savepoint inside create/decide.
    return announceExpired(sweepAndNotify.immediate(at, org_id));
  }

  function expireOne(org_id: string, approval_id: string): void {
    expire(org_id);
    const current = selectApproval(db, org_id, approval_id);
    if (!current || (current.status !== "pending" && current.status !== "approved")) return;
    if (current.expires_at > now().toISOString()) return;
    announceExpired(expireOneAndNotify.immediate(now(), org_id, approval_id));
  }

  // The timer catches up with bursts (more overdue than one call expires) and with orgs nobody reads.
  const sweeper =
    (options.expirySweepMs ?? 30_000) > 0
      ? setInterval(() => {
          try {
            while (expire() === EXPIRY_BATCH);
          } catch (err) {
            log.warn({ err: String(err) }, "approval expiry sweep failed");
          }
        }, options.expirySweepMs ?? 30_000).unref()
      : undefined;

  function decide(
    org_id: string,
    approval_id: string,
    status: "approved" | "denied",
    decision: { by: string; reason?: string | undefined },
  ): DecideResult {
    const result = db
      .transaction((): DecideResult => {
        expire(org_id);
        const updated = db
          .prepare<unknown[], Row>(
            `UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, decision_reason = ?
             WHERE org_id = ? AND approval_id = ? AND status = 'pending' RETURNING *`,
          )
          .get(status, now().toISOString(), decision.by, decision.reason ?? null, org_id, approval_id);
        if (updated) {
          const approval = fromRow(updated);
          for (const listener of decisionListeners) listener(approval);
          return { ok: true, approval };
        }
        const current = selectApproval(db, org_id, approval_id);
        if (!current) return { ok: false, code: "NOT_FOUND", reason: `Approval ${approval_id} not found` };
        if (current.status === "expired") {
          return {
            ok: false,
            code: "EXPIRED",
            reason: `Approval ${approval_id} expired at ${current.expires_at}`,
            approval: current,
          };
        }
        return {
          ok: false,
          code: "NOT_PENDING",
          reason: `Approval ${approval_id} is already ${current.status}`,
          approval: current,
        };
      })
      .immediate();
    if (result.ok) announce({ type: "approval.decided", org_id, approval_id, status });
    return result;
  }

  return {
    create(input) {
      const binding_hash = approvalBindingHash(input);
      let isNew = false;
      const approval = db
        .transaction((): Approval => {
          expire(input.org_id);
          const existing = db
            .prepare<[string, string], Row>(
              "SELECT * FROM approvals WHERE org_id = ? AND binding_hash = ? AND status = 'pending'",
            )
            .get(input.org_id, binding_hash);
          if (existing) return fromRow(existing);
          const created = now();
          const ttl = input.ttl_ms ?? defaultTtl;
          const row: Row = {
            approval_id: `appr-${randomUUID()}`,
            org_id: input.org_id,
            uapk_id: input.uapk_id,
            agent_id: input.agent_id,
            // Bound like the audit log's params: a large argument is kept as its hash, size and a preview. The
            // binding hash above covers the full request, so the agent (or the session) re-presents the full
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
            expires_at: new Date(created.getTime() + ttl).toISOString(),
            decided_at: null,
            decided_by: null,
            decision_reason: null,
            consumed_at: null,
            consumed_by_interaction_id: null,
            risk: input.risk === undefined ? null : JSON.stringify(input.risk),
          };
          const columns = Object.keys(row);
          db.prepare(
            `INSERT INTO approvals (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`,
          ).run(row);
          isNew = true;
          return fromRow(row);
        })
        .immediate();
      if (isNew) announce({ type: "approval.created", org_id: approval.org_id, approval_id: approval.approval_id });
      return approval;
    },

    list(org_id, filter = {}) {
      expire(org_id);
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
    },

    get(org_id, approval_id) {
      expireOne(org_id, approval_id);
      return selectApproval(db, org_id, approval_id);
    },

    getForAgent(org_id, approval_id, agent_id) {
      const approval = this.get(org_id, approval_id);
      if (!approval || (agent_id !== undefined && approval.agent_id !== agent_id)) return null;
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
    },

    approve: (org_id, approval_id, decision) => decide(org_id, approval_id, "approved", decision),
    deny: (org_id, approval_id, decision) => decide(org_id, approval_id, "denied", decision),

    waitForDecision(org_id, approval_id, timeoutMs, signal) {
      const current = this.get(org_id, approval_id);
      if (!current || current.status !== "pending" || timeoutMs <= 0 || signal?.aborted)
        return Promise.resolve(current);
      return new Promise((resolve) => {
        const check = () => {
          const latest = this.get(org_id, approval_id);
          if (!latest || latest.status !== "pending") finish(latest);
        };
        const finish = (value: Approval | null) => {
          clearTimeout(timeout);
          clearTimeout(expiry);
          clearInterval(poll);
          changes.off(approval_id, check);
          signal?.removeEventListener("abort", onAbort);
          closers.delete(onAbort);
          resolve(value);
        };
        const onAbort = () => finish(selectApproval(db, org_id, approval_id));
        const timeout = setTimeout(() => finish(this.get(org_id, approval_id)), timeoutMs);
        // Wake exactly when it expires, so the waiter hears "expired" rather than a stale "pending".
        const untilExpiry = Date.parse(current.expires_at) - now().getTime();
        const expiry = setTimeout(check, Math.max(untilExpiry, 0) + 1).unref();
        const poll = setInterval(check, pollIntervalMs).unref();
        changes.on(approval_id, check);
        signal?.addEventListener("abort", onAbort, { once: true });
        closers.add(onAbort);
      });
    },

    cancel(org_id, approval_id, reason) {
      // A cancellation is a verdict like the others: its listeners (the audit log) run in the same transaction,
      // so no approval is cancelled without its record.
      const cancelled = db
        .transaction(() => {
          const row = db
            .prepare<unknown[], Row>(
              `UPDATE approvals SET status = 'cancelled', decided_at = ?, decided_by = 'gatehouse', decision_reason = ?
               WHERE org_id = ? AND approval_id = ? AND status IN ('pending', 'approved') RETURNING *`,
            )
            .get(now().toISOString(), reason, org_id, approval_id);
          return row ? notify([fromRow(row)]) : [];
        })
        .immediate();
      if (cancelled.length === 0) return false;
      changes.emit(approval_id);
      announce({ type: "approval.decided", org_id, approval_id, status: "cancelled" });
      return true;
    },

    expireOverdue: (org_id) => expire(org_id),
    changesSince: (org_id, sinceIso) => approvalChangesSince(db, org_id, sinceIso),

    onDecided(listener) {
      decisionListeners.add(listener);
      return () => decisionListeners.delete(listener);
    },

    close() {
      if (sweeper) clearInterval(sweeper);
      for (const stop of unsubscribe) stop();
      for (const stop of Array.from(closers)) stop();
    },
  };
}

/**
 * Spends an approved approval on one execution. Call it inside the caller's transaction that also writes the
 * audit intent (`db.transaction(() => { consumeForExecution(db, …); audit.appendIntent(…) }).immediate()`), so
 * that either both happen or neither. The conditional UPDATE makes a second consumer find nothing to take,
 * even in another process.
 */
export function consumeForExecution(db: Db, input: ConsumeInput): ConsumeResult {
  const at = input.now ?? new Date();
  const bindingHash = input.bindingHash ?? (input.binding ? approvalBindingHash(input.binding) : undefined);
  if (!bindingHash) throw new Error("consumeForExecution: bindingHash or binding is required");
  // No sweep here: marking approvals expired belongs to the store, whose listeners audit every expiry. An
  // overdue approval is refused below by its `expires_at`, and the store records its expiry on the next read.

  const consumed = db
    .prepare<unknown[], Row>(
      `UPDATE approvals SET status = 'consumed', consumed_at = ?, consumed_by_interaction_id = ?
       WHERE org_id = ? AND approval_id = ? AND status = 'approved' AND expires_at > ? AND binding_hash = ?
       RETURNING *`,
    )
    .get(
      at.toISOString(),
      input.interaction_id ?? null,
      input.org_id,
      input.approval_id,
      at.toISOString(),
      bindingHash,
    );
  if (consumed) return { ok: true, approval: fromRow(consumed) };

  const current = selectApproval(db, input.org_id, input.approval_id);
  const id = input.approval_id;
  if (!current) return { ok: false, code: "APPROVAL_NOT_FOUND", reason: `Approval ${id} not found` };
  const overdue =
    (current.status === "pending" || current.status === "approved") && current.expires_at <= at.toISOString();
  switch (overdue ? "expired" : current.status) {
    case "pending":
      return { ok: false, code: "APPROVAL_PENDING", reason: `Approval ${id} is still waiting for an operator` };
    case "denied":
      return {
        ok: false,
        code: "APPROVAL_DENIED",
        reason: `Approval ${id} was denied${current.decision_reason ? `: ${current.decision_reason}` : ""}`,
      };
    case "expired":
      return { ok: false, code: "APPROVAL_EXPIRED", reason: `Approval ${id} expired at ${current.expires_at}` };
    case "cancelled":
      return { ok: false, code: "APPROVAL_DENIED", reason: `Approval ${id} was cancelled with its session` };
    case "consumed":
      return {
        ok: false,
        code: "APPROVAL_ALREADY_CONSUMED",
        reason: `Approval ${id} was already used at ${current.consumed_at}`,
      };
    default: {
      // Approved and in time, so the binding is what differs.
      const differing = input.binding ? bindingDifferences(current, input.binding) : [];
      return {
        ok: false,
        code: "APPROVAL_BINDING_MISMATCH",
        reason: `Approval ${id} was granted for a different request${differing.length ? ` (${differing.join(", ")} differ)` : ""}; it cannot authorise this one`,
      };
    }
  }
}
