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
import type { GovernanceAudit, ReservationStore } from "./ports";
import type { ActionResult, AuthorizedCall } from "./types";

const log = logger.child({ module: "governance" });

/** `nothingSent`: the gateway knows the call never reached its tool (its unit is given back). */
export type RecordOutcome = (
  call: AuthorizedCall,
  result: ActionResult,
  options?: { nothingSent?: boolean },
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

  return async (call, result, options = {}) => {
    await bookkeeping(call, result, options.nothingSent === true);
    // Answered once the outcome is committed (concurrent outcomes share that commit).
    await deps.audit.recordOutcome({
      org_id: call.org_id,
      interaction_id: call.interaction_id,
      executed: result.success,
      result,
      redact: call.redact,
      meta: call.meta,
    });
  };
}
