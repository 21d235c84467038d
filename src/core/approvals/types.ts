// The approvals' public types, shared by the embedded store (./approvals.ts) and the shared store's service
// (src/core/store/shared/approvals-service.ts).
import type { components } from "../../../generated/api-types";
import type { EventBus } from "../events";
import type { ApprovalAction, ApprovalBinding } from "./binding";
import type { ApprovalChange } from "./changes";
import type { ApprovalRisk, StoredApprovalRisk } from "./risk";

// The spec's own types (generated/), not copies.
export type ApprovalStatus = components["schemas"]["ApprovalStatus"];

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
  /**
   * The risk picture when it was asked for (null on approvals older than migration 0004; older pictures may hold
   * every recipient, uncounted: views bound it with ./risk.ts boundedRisk).
   */
  risk?: StoredApprovalRisk | null;
  /**
   * The tool's redaction paths when it was asked for (null when it had none, or on approvals older than migration
   * 0008). Views redact with these and the tool's current ones, so a manifest that drops a path later does not show
   * this approval's values in clear.
   */
  redact?: string[] | null;
}

/** What an operator weighs, taken from the policy's decision at creation (bounded: ./risk.ts). */
export type { ApprovalRisk } from "./risk";

/** What the agent that asked may see: the outcome, not who decided nor the operator's note. */
export interface AgentApprovalView {
  approval_id: string;
  status: ApprovalStatus;
  action: { type: string; tool: string };
  reasons: unknown[];
  created_at: string;
  expires_at: string;
  decided_at: string | null;
}

export interface CreateApprovalInput extends ApprovalBinding {
  org_id: string;
  reasons: unknown[];
  interaction_id?: string;
  risk?: ApprovalRisk;
  /** The tool's redaction paths in force now (kept with the approval; see Approval.redact). */
  redact?: readonly string[] | undefined;
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

/** An approval asked for inside a caller's transaction (ApprovalStore.ask). */
export interface AskedApproval {
  approval: Approval;
  /** Tells the other nodes and the notifiers about a new approval: call it once the caller has committed. */
  announce(): void;
}

export interface ApprovalStore {
  /** A new pending approval, or the existing pending one for the same binding (no duplicate for a retry). */
  create(input: CreateApprovalInput): Approval;
  /**
   * create's write alone, inside the caller's transaction (a savepoint of it), for a caller that commits it with
   * other writes (the engine: the approval and the audit decision naming it, in one commit). Nothing is announced
   * until the caller calls `announce`, after its COMMIT.
   */
  ask(input: CreateApprovalInput): AskedApproval;
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
