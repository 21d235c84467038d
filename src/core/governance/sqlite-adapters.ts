// The engine's ports on the embedded SQLite store: the reservation (one group commit, see
// src/core/store/group-commit.ts) and the audit log. A PostgreSQL backend replaces this file, not the engine.
import type { AuditLog } from "../audit/audit-log";
import type { BudgetCounters } from "../policy/budget-counters";
import { type GroupCommit, groupCommit } from "../store/group-commit";
import { linkIntent } from "../store/idempotency-queries";
import type { Db } from "../store/sqlite";
import { sqliteQuery } from "../store/sqlite-query";
import { consumeApprovalOrThrow } from "./approval-consumption";
import type { ApprovalsPort, EscalationStore, GovernanceAudit, ReservationStore } from "./ports";
import { type IdempotencyClaim, keyInFlight } from "./types";

/** The audit log's methods the engine writes with (the grouped appends are used when present). */
export type AuditWriter = Pick<AuditLog, "appendIntent" | "appendOutcome" | "appendDecision"> &
  Partial<
    Pick<
      AuditLog,
      | "appendApprovalDecision"
      | "appendOutcomeGrouped"
      | "appendDecisionGrouped"
      | "getInteraction"
      | "appendTokenRecord"
    >
  >;

/** Decisions and outcomes share group commits; without an audit log, nothing is recorded. */
export function auditPortOf(log: AuditWriter | undefined): GovernanceAudit {
  if (!log) return { recordDecision: async () => {}, recordOutcome: async () => {} };
  return {
    async recordDecision(input) {
      if (log.appendDecisionGrouped) await log.appendDecisionGrouped(input);
      else log.appendDecision(input);
    },
    async recordOutcome(input) {
      if (log.appendOutcomeGrouped) await log.appendOutcomeGrouped(input);
      else log.appendOutcome(input);
    },
    ...(log.appendApprovalDecision
      ? { recordApprovalVerdict: (input) => void log.appendApprovalDecision!(input) }
      : {}),
    ...(log.getInteraction
      ? {
          outcomeRecorded: async (orgId: string, interactionId: string) =>
            log.getInteraction!(orgId, interactionId).some((r) => r.kind === "outcome"),
        }
      : {}),
  };
}

/**
 * Reservations in group commits: budget, approval, claim link and intent of the calls reserved during one
 * event-loop turn share one IMMEDIATE transaction, each in its own savepoint (a refused approval or a lost
 * idempotency claim rolls back only its call).
 */
export function sqliteReservations(
  db: Db,
  budgets: BudgetCounters,
  audit: AuditWriter | undefined,
  commits: GroupCommit = groupCommit(db),
): ReservationStore {
  const linkStmt = sqliteQuery(db, (b, $: Parameters<typeof linkIntent>[1]) => linkIntent(b, $));
  /** Links the claim to the interaction (src/core/idempotency/leases.ts); throws when it was taken over. */
  const link = (claim: IdempotencyClaim, interactionId: string) => {
    const { org_id, agent_id, key, owner } = claim;
    if (linkStmt.run({ org_id, agent_id, key, owner, interaction_id: interactionId }).changes !== 1)
      throw keyInFlight(key);
  };
  return {
    reserve: (reservation) =>
      commits.run(() => {
        const budget = budgets.tryConsume(reservation.slots);
        if (!budget.ok) return budget;
        if (reservation.approval) {
          consumeApprovalOrThrow(db, {
            org_id: reservation.org_id,
            approval_id: reservation.approval.approval_id,
            binding: reservation.approval.binding,
            interaction_id: reservation.interaction_id,
            now: reservation.at,
          });
        }
        // With the intent, in this unit's savepoint: a lost claim throws and rolls back the budget and approval.
        // After the budget check, so a lost budget race (which returns, not throws) leaves no link either.
        if (reservation.link) link(reservation.link, reservation.interaction_id);
        audit?.appendIntent(reservation.intent);
        return budget;
      }),
    async refund(_orgId, slots) {
      budgets.refund(slots);
    },
  };
}

/**
 * ESCALATE in one group commit: the pending approval and the audit decision naming it are one savepoint of the
 * group's transaction — no approval an operator can see without its record, one commit instead of two. The
 * approval is announced (other nodes, notifiers) only after the COMMIT.
 */
export function sqliteEscalations(
  commits: GroupCommit,
  ask: NonNullable<ApprovalsPort["ask"]>,
  audit: AuditWriter,
): EscalationStore {
  return {
    async escalate(input, decision) {
      const asked = await commits.run(() => {
        const asked = ask(input);
        audit.appendDecision(decision(asked.approval.approval_id));
        return asked;
      });
      asked.announce();
      return asked.approval;
    },
  };
}
