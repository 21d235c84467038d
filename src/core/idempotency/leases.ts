// What a caller that found an idempotency key taken does with it — one rule for both backends (the embedded store
// in ./idempotency.ts, the shared one in src/core/store/shared/idempotency.ts).
//
// A claim names its owner (one id per store, i.e. per process) and a lease the owner renews while the call runs
// (every RENEW_EVERY_MS, LEASE_MS long). A claim whose lease has run out belongs to an owner taken for dead
// (SIGKILL, crash, lost host). What may be done with it depends on its link to an interaction, which the owner
// writes IN THE SAME COMMIT as the call's audit intent (the reservation: budget, approval, link, intent — see
// src/core/governance/sqlite-adapters.ts and src/core/store/shared/reservations.ts), the point after which the
// connector may run. The link is a compare-and-set on the owner and the unset link; when it updates no row (the
// claim was taken over meanwhile) the reservation writes nothing and the call stops without running (409
// IDEMPOTENCY_KEY_IN_FLIGHT). So a linked row always has its intent in the audit log, and:
//   - no link: nothing ran, nor can it any more (the old owner's link would update no row). The retry takes the
//     claim over — compare-and-set on the owner and lease as read, link still unset — and executes.
//   - a link: the call may have run. It is never run again: the key is settled for good with the documented
//     outcome-unknown answer (409 IDEMPOTENCY_OUTCOME_UNKNOWN naming the interaction, whose intent the audit log
//     holds), so every later retry gets that answer at once instead of waiting.
// The link was once its own statement before the intent: an owner killed between the two left a linked row with no
// intent, and retries of a call that never ran were settled as unknown. Never check the audit log at takeover
// instead: a paused (not dead) owner could still commit its intent afterwards.
// A lease still running means the owner is alive (however slow): the caller waits for its answer, as before.
// Rows claimed before leases existed (no owner) are never taken over: they stay in flight until they expire.
import { logger } from "../log/logger";
import type { ClaimSeen, IdempotencyRow } from "../store/idempotency-queries";

const log = logger.child({ module: "idempotency" });

/** How long a claim stays its owner's without a renewal. */
export const DEFAULT_LEASE_MS = 30_000;
/** How often an owner renews the leases of the calls it is running. */
export const DEFAULT_RENEW_EVERY_MS = 10_000;

/** The answer a settled key gives: stored in the row as its response, with this status. */
export const OUTCOME_UNKNOWN_STATUS = 409;
export const OUTCOME_UNKNOWN_CODE = "IDEMPOTENCY_OUTCOME_UNKNOWN";

export interface LeaseOptions {
  /** How long a claim stays its owner's without a renewal (30 s unless configured). */
  leaseMs?: number;
  /** How often the owner renews its claims' leases (10 s unless configured). */
  renewEveryMs?: number;
  /** This store's owner id; a random one per store unless given (tests). */
  owner?: string;
}

/** What to do with a claim that was found in flight. */
export type InFlightVerdict =
  | { do: "wait" }
  | { do: "take_over"; seen: ClaimSeen }
  | { do: "settle"; seen: ClaimSeen; interaction_id: string };

export function inFlightVerdict(
  row: IdempotencyRow,
  scope: { org_id: string; agent_id: string; key: string },
  at: Date,
): InFlightVerdict {
  const { owner, lease_until, interaction_id } = row;
  if (owner === null || lease_until === null || lease_until > at.toISOString()) return { do: "wait" };
  const seen = { org_id: scope.org_id, agent_id: scope.agent_id, key: scope.key, owner, lease_until };
  return interaction_id === null ? { do: "take_over", seen } : { do: "settle", seen, interaction_id };
}

/** True once the row's owner has stopped renewing its lease (a waiter stops waiting and begins again). */
export function leaseExpired(row: IdempotencyRow, at: Date): boolean {
  return (
    row.state === "in_flight" && row.owner !== null && row.lease_until !== null && row.lease_until <= at.toISOString()
  );
}

/** The response stored in a settled row. */
export function outcomeUnknownResponse(interactionId: string): string {
  return JSON.stringify({ code: OUTCOME_UNKNOWN_CODE, interaction_id: interactionId });
}

/** The interaction of a row settled as outcome-unknown, or undefined for a row holding a real answer. */
export function settledInteraction(row: IdempotencyRow): string | undefined {
  if (row.state !== "completed" || Number(row.status) !== OUTCOME_UNKNOWN_STATUS || !row.response) return undefined;
  const body = JSON.parse(row.response) as { code?: unknown; interaction_id?: unknown };
  return body.code === OUTCOME_UNKNOWN_CODE && typeof body.interaction_id === "string"
    ? body.interaction_id
    : undefined;
}

/**
 * Renews `renew` every `everyMs` while `busy()` says calls are running: started by `ensure()` at each claim,
 * stopped by itself once nothing is in flight. Unref'd: it never keeps a process alive.
 */
export function heartbeat(everyMs: number, busy: () => boolean, renew: () => unknown) {
  let timer: NodeJS.Timeout | undefined;
  const beat = () => {
    if (!busy()) {
      clearInterval(timer);
      timer = undefined;
      return;
    }
    void Promise.resolve()
      .then(renew)
      // A missed renewal is retried at the next beat: the lease lasts three beats.
      .catch((err: unknown) => log.warn({ err }, "idempotency leases not renewed"));
  };
  return {
    ensure() {
      if (timer) return;
      timer = setInterval(beat, everyMs);
      timer.unref();
    },
  };
}
