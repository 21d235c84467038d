// Shared by the tests of an idempotency claim taken over between its claim and its reservation, on the embedded
// engine (./engine.test.ts) and on the store contract's backends (src/core/store/contract/idempotency-leases.test.ts).
import { expect } from "vitest";
import type { ReservationStore } from "./ports";

/** Reservations held at a gate until `release()`: the node "pauses" (or dies) after its claim, before reserving. */
export function pausedBeforeReservation(reservations: ReservationStore) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const paused = { waiting: 0, release, store: reservations };
  paused.store = {
    async reserve(reservation) {
      paused.waiting++;
      await gate;
      return reservations.reserve(reservation);
    },
    refund: (orgId, slots) => reservations.refund(orgId, slots),
  };
  return paused;
}

/**
 * The paused node's two calls once it wakes, in one group commit: the keyed one, whose claim was taken over, is
 * refused and runs nothing; the one without a key is reserved and runs. Returns that one's interaction id.
 */
export async function onlyTheUnkeyedCallRan(late: Promise<PromiseSettledResult<unknown>[]>): Promise<string> {
  const [lost, other] = await late;
  expect(lost).toMatchObject({ status: "rejected", reason: { code: "IDEMPOTENCY_KEY_IN_FLIGHT" } });
  expect(other).toMatchObject({ status: "fulfilled", value: { executed: true } });
  return (other as PromiseFulfilledResult<{ interaction_id: string }>).value.interaction_id;
}
