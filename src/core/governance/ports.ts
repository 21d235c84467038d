// The engine's store-facing dependencies, as ports. The embedded default implements them on SQLite
// (./sqlite-adapters.ts); a PostgreSQL backend implements the same interfaces. Methods that touch a store are
// async so a networked store fits; the one exception is the approval→audit listener, which must run inside the
// approvals store's own transaction (see ./approval-audit-listener.ts).
import type { Approval, AskedApproval, CreateApprovalInput, DecisionListener } from "../approvals";
import type { ApprovalBinding } from "../approvals/binding";
import type { ApprovalDecisionInput, DecisionInput, IntentInput, OutcomeInput } from "../audit/audit-log";
import type { IdempotencyStore } from "../idempotency";
import type { BudgetSlot } from "../policy/budget-counters";
import type { IdempotencyClaim } from "./types";

type MaybePromise<T> = T | Promise<T>;

/** The audit log as the engine writes it. Each promise settles once the record is committed. */
export interface GovernanceAudit {
  recordDecision(input: DecisionInput): Promise<void>;
  recordOutcome(input: OutcomeInput): Promise<void>;
  /** Whether the interaction's outcome is in the log (a write that failed may still have committed). */
  outcomeRecorded?(orgId: string, interactionId: string): Promise<boolean>;
  /** Synchronous: called inside the approvals store's transaction that changes the approval's status. */
  recordApprovalVerdict?(input: ApprovalDecisionInput): void;
}

/** One ALLOWed call's write-ahead step: all of it is committed, or none of it. */
export interface Reservation {
  org_id: string;
  interaction_id: string;
  at: Date;
  slots: BudgetSlot[];
  /** The approval that turned the ESCALATE into ALLOW: consumed in the same commit. */
  approval?: { approval_id: string; binding: ApprovalBinding };
  /** The audit intent, committed with the budget and the approval before the call runs. */
  intent: IntentInput;
  /**
   * The idempotency claim to link to this interaction, in the same commit (compare-and-set on its owner). When
   * it is no longer the owner's, reserve rejects with 409 IDEMPOTENCY_KEY_IN_FLIGHT and writes nothing.
   */
  link?: IdempotencyClaim;
}

export type ReservationResult = { ok: true } | { ok: false; exhausted: BudgetSlot };

export interface ReservationStore {
  /**
   * Budget units + approval consumption + audit intent, atomically and durably before it resolves. A lost
   * budget race resolves `{ ok: false }` with nothing written; a refused approval or a lost idempotency claim
   * rejects with an ActionConflictError, nothing written either.
   */
  reserve(reservation: Reservation): Promise<ReservationResult>;
  /** Gives the units of a call of `orgId` that did not take effect back. */
  refund(orgId: string, slots: BudgetSlot[]): Promise<void>;
}

/** The approvals store as the engine uses it: create on ESCALATE, read on re-submission, hear verdicts. */
export interface ApprovalsPort {
  create(input: CreateApprovalInput): MaybePromise<Approval>;
  /** The embedded store only: create's write inside the caller's transaction (see ApprovalStore.ask). */
  ask?(input: CreateApprovalInput): AskedApproval;
  get(orgId: string, approvalId: string): MaybePromise<Approval | null | undefined>;
  onDecided?(listener: DecisionListener): () => void;
}

/**
 * ESCALATE's writes: creates the pending approval (or finds the pending one of the same binding) and records
 * `decision` of its id; resolves once both are committed.
 */
export type Escalate = (
  input: CreateApprovalInput,
  decision: (approvalId: string) => DecisionInput,
) => Promise<Approval>;

export interface EscalationStore {
  escalate: Escalate;
}

/** src/core/idempotency's store; `begin` must claim the key and register the in-flight answer in one step. */
export interface IdempotencyPort {
  begin(input: Parameters<IdempotencyStore["begin"]>[0]): MaybePromise<ReturnType<IdempotencyStore["begin"]>>;
  complete(...args: Parameters<IdempotencyStore["complete"]>): MaybePromise<void>;
  release(...args: Parameters<IdempotencyStore["release"]>): MaybePromise<void>;
  /** The owner id of this store's claims (what a reservation's link compares). */
  readonly owner: string;
}
