// The engine's ReservationStore on the shared store: budget units, approval consumption, the idempotency claim's
// link and the audit intent of one ALLOWed call in ONE database transaction — all of it commits, or none of it
// does, on whichever node.
import type { Reservation, ReservationStore } from "../../governance/ports";
import { ActionConflictError, type IdempotencyClaim, keyInFlight } from "../../governance/types";
import { linkIntent } from "../idempotency-queries";
import type { SharedApprovals } from "./approvals";
import type { SharedAuditChain } from "./audit-chain";
import { BudgetExhausted, refundEach, takeOneUnitEach, type SharedBudgets } from "./budgets";
import type { SharedGroupCommit, Trx } from "./group-commit";

/** Links the claim to the interaction in `trx` (src/core/idempotency/leases.ts); throws when it was taken over. */
async function link(trx: Trx, claim: IdempotencyClaim, interactionId: string): Promise<void> {
  const { org_id, agent_id, key, owner } = claim;
  const linked = await linkIntent(trx, {
    org_id,
    agent_id,
    key,
    owner,
    interaction_id: interactionId,
  }).executeTakeFirst();
  if (linked.numUpdatedRows !== 1n) throw keyInFlight(claim.key);
}

/**
 * Reservations are group-committed (./group-commit.ts): the org's chain lock is taken before any budget row.
 * A reservation without an approval is an intent of the audit chain's grouped appends, with its budget units:
 * the reservations, decisions and outcomes of one org that reach a group transaction together are ONE unit —
 * one locking read and one UPDATE of their budget counters, one multi-row INSERT of their records — so the
 * chain lock is held for a few round trips however many requests share it. A reservation under an idempotency
 * key adds one UPDATE, its claim's link, to the unit; a lost claim refuses only its own intent (units given back).
 * A reservation that spends an approval is a unit of its own (its consumption may be refused), rolled back to its
 * savepoint.
 */
export function sharedReservations(
  groups: SharedGroupCommit,
  stores: { budgets: SharedBudgets; approvals: SharedApprovals; audit: SharedAuditChain },
): ReservationStore {
  async function reserveWithApproval(reservation: Reservation, approval: NonNullable<Reservation["approval"]>) {
    try {
      await groups.run([reservation.org_id], async (trx) => {
        await takeOneUnitEach(trx, reservation.slots);
        const consumed = await stores.approvals.consume(
          {
            org_id: reservation.org_id,
            approval_id: approval.approval_id,
            binding: approval.binding,
            interaction_id: reservation.interaction_id,
            now: reservation.at,
          },
          trx,
        );
        if (!consumed.ok) throw new ActionConflictError(consumed.reason, consumed.code);
        if (reservation.link) await link(trx, reservation.link, reservation.interaction_id);
        await stores.audit.appendIntent(reservation.intent, trx);
      });
      return { ok: true } as const;
    } catch (err) {
      // Thrown inside the transaction, so everything it had written is rolled back.
      if (err instanceof BudgetExhausted) return { ok: false, exhausted: err.slot } as const;
      throw err;
    }
  }

  return {
    reserve(reservation) {
      if (reservation.approval) return reserveWithApproval(reservation, reservation.approval);
      const { link: claim, interaction_id } = reservation;
      // The link commits with the intent or is refused with it (the batch's other items are untouched).
      const guard = claim ? (trx: Trx) => link(trx, claim, interaction_id) : undefined;
      return stores.audit
        .appendIntentGrouped(reservation.intent, reservation.slots, guard)
        .then((taken) => (taken.ok ? { ok: true } : { ok: false, exhausted: taken.exhausted }));
    },
    // Under the org's chain lock, like the reservations that take these counters: a refund on its own took its
    // rows one by one while a group transaction's UPDATE took the same rows in another order — a deadlock, which
    // PostgreSQL broke by aborting one side (a whole group of executes, or the refund).
    refund: (orgId, slots) => groups.run([orgId], (trx) => refundEach(trx, slots)),
  };
}
