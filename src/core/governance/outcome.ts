// recordOutcome: how an authorized call ended, whoever ran it (a connector, or the IDE for a session's tool
// call). `executed` is true only when the call ran AND reported success. A failed call keeps its intent and
// gets its outcome (`executed: false`, the error in `result`), and its budget unit is REFUNDED: budgets count
// actions that took effect, so an agent retrying a flaky upstream is not starved. An approval consumed by a
// failed call stays consumed (the operator approved one attempt), because a partial side effect cannot be ruled out.
import { logger } from "../log/logger";
import type { KnownCounterparties } from "../policy/known-counterparties";
import type { GovernanceAudit, ReservationStore } from "./ports";
import type { ActionResult, AuthorizedCall } from "./types";

const log = logger.child({ module: "governance" });

export type RecordOutcome = (call: AuthorizedCall, result: ActionResult) => Promise<void>;

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
  async function bookkeeping(call: AuthorizedCall, result: ActionResult): Promise<void> {
    try {
      if (!result.success) await deps.reservations.refund(call.org_id, call.slots);
      else if (deps.counterparties.rememberAll && call.counterparties?.length)
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

  return async (call, result) => {
    await bookkeeping(call, result);
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
