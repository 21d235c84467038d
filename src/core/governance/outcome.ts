// recordOutcome: how an authorized call ended, whoever ran it (a connector, or the IDE for a session's tool
// call). `executed` is true only when the call ran AND reported success. A failed call keeps its intent and
// gets its outcome (`executed: false`, the error in `result`). Its budget unit is REFUNDED only when the caller
// states that nothing reached the tool (`nothingSent`): the gateway's own connectors can say so (execute.ts, from
// NOT_SENT_FAILURES: refused by configuration or the network guard, no connection); an IDE reporting its own tool
// result cannot, since its error code is whatever it sends. Budgets count actions that may have taken effect, so a
// timeout or a lost connection stays spent — else an upstream that acts and answers late would carry any number of
// actions past the budget. An approval consumed by a failed call stays consumed (the operator approved one
// attempt), for the same reason.
import { logger } from "../log/logger";
import type { KnownCounterparties } from "../policy/known-counterparties";
import { untilStored as untilStoredRetrying } from "./durable";
import type { GovernanceAudit, ReservationStore } from "./ports";
import type { ActionResult, AuthorizedCall } from "./types";

const log = logger.child({ module: "governance" });

/**
 * The waits before each new attempt at an outcome write that failed. The call has run: its outcome is what proves
 * it, so a write lost with its connection (PostgreSQL restarted, a backend terminated: one failed group transaction
 * loses every outcome in it) is tried again — the pool has usually reconnected at once.
 */
const OUTCOME_RETRY_DELAYS_MS = [100, 500, 2_000];

/**
 * `nothingSent`: the gateway knows the call never reached its tool (its unit is given back). `untilStored`: the
 * outcome write is tried again, with backoff, until it is stored (./durable.ts) instead of three more times.
 */
export type RecordOutcome = (
  call: AuthorizedCall,
  result: ActionResult,
  options?: { nothingSent?: boolean; untilStored?: boolean },
) => Promise<void>;

export function createRecordOutcome(deps: {
  audit: GovernanceAudit;
  reservations: ReservationStore;
  counterparties: {
    remember(...args: Parameters<KnownCounterparties["remember"]>): void | Promise<void>;
    /** A store that can write them all at once (the shared one: a round trip per counterparty is too slow). */
    rememberAll?(orgId: string, uapkId: string, counterparties: readonly string[], at: Date): Promise<void>;
  };
}): RecordOutcome {
  /**
   * The refund and the counterparty are bookkeeping: when the store refuses them, the outcome must still be
   * recorded (it is what proves the call ran). Each failure errs on the safe side — a unit not refunded stays
   * spent, a counterparty not remembered escalates as new again — and is logged.
   */
  async function bookkeeping(call: AuthorizedCall, result: ActionResult, nothingSent: boolean): Promise<void> {
    try {
      if (!result.success) {
        if (nothingSent) await deps.reservations.refund(call.org_id, call.slots);
      } else if (deps.counterparties.rememberAll && call.counterparties?.length)
        await deps.counterparties.rememberAll(call.org_id, call.uapk_id, call.counterparties, call.at);
      else
        for (const counterparty of call.counterparties ?? [])
          await deps.counterparties.remember(call.org_id, call.uapk_id, counterparty, call.at);
    } catch (err) {
      log.warn(
        { err, interactionId: call.interaction_id },
        result.success ? "counterparty not remembered" : "budget unit not refunded",
      );
    }
  }

  /**
   * Appends the outcome, again after a failure. A failed attempt may still have committed (the connection was lost
   * after COMMIT was sent), so each new attempt first asks the log: an interaction never gets two outcomes.
   */
  async function appendOutcome(call: AuthorizedCall, result: ActionResult, untilStored: boolean): Promise<void> {
    const input = {
      org_id: call.org_id,
      interaction_id: call.interaction_id,
      executed: result.success,
      result,
      redact: call.redact,
      meta: call.meta,
    };
    const attempt = async (retry: number) => {
      if (retry > 0 && (await deps.audit.outcomeRecorded?.(call.org_id, call.interaction_id))) return;
      await deps.audit.recordOutcome(input);
    };
    if (untilStored) return untilStoredRetrying(attempt, { record: "outcome", interactionId: call.interaction_id });
    let failure: unknown;
    for (const [retry, delay] of [0, ...OUTCOME_RETRY_DELAYS_MS].entries()) {
      if (delay > 0) await new Promise((wait) => setTimeout(wait, delay));
      try {
        return await attempt(retry);
      } catch (err) {
        failure = err;
        log.warn({ err, interactionId: call.interaction_id }, "outcome not recorded: trying again");
      }
    }
    throw failure;
  }

  return async (call, result, options = {}) => {
    await bookkeeping(call, result, options.nothingSent === true);
    // Answered once the outcome is committed (concurrent outcomes share that commit).
    await appendOutcome(call, result, options.untilStored === true);
  };
}
