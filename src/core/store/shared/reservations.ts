// The engine's ReservationStore on the shared store: budget units, approval consumption and the audit intent
// of one ALLOWed call in ONE database transaction — all of it commits, or none of it does, on whichever node.
import type { ReservationStore } from "../../governance/ports";
import { ActionConflictError } from "../../governance/types";
import type { SharedApprovals } from "./approvals";
import type { SharedAuditChain } from "./audit-chain";
import { BudgetExhausted, takeOneUnitEach, type SharedBudgets } from "./budgets";
import type { SharedGroupCommit } from "./group-commit";

/**
 * Reservations are group-committed (./group-commit.ts): the org's chain lock is taken before any budget row,
 * every reservation of one turn shares a transaction, and a refused one rolls back to its own savepoint.
 */
export function sharedReservations(
  groups: SharedGroupCommit,
  stores: { budgets: SharedBudgets; approvals: SharedApprovals; audit: SharedAuditChain },
): ReservationStore {
  return {
    async reserve(reservation) {
      try {
        await groups.run([reservation.org_id], async (trx) => {
          await takeOneUnitEach(trx, reservation.slots);
          if (reservation.approval) {
            const consumed = await stores.approvals.consume(
              {
                org_id: reservation.org_id,
                approval_id: reservation.approval.approval_id,
                binding: reservation.approval.binding,
                interaction_id: reservation.interaction_id,
                now: reservation.at,
              },
              trx,
            );
            if (!consumed.ok) throw new ActionConflictError(consumed.reason, consumed.code);
          }
          await stores.audit.appendIntent(reservation.intent, trx);
        });
        return { ok: true };
      } catch (err) {
        // Thrown inside the transaction, so everything it had written is rolled back.
        if (err instanceof BudgetExhausted) return { ok: false, exhausted: err.slot };
        throw err;
      }
    },
    refund: (slots) => stores.budgets.refund(slots),
  };
}
