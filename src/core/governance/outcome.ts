// recordOutcome: how an authorized call ended, whoever ran it (a connector, or the IDE for a session's tool
// call). `executed` is true only when the call ran AND reported success. A failed call keeps its intent and
// gets its outcome (`executed: false`, the error in `result`), and its budget unit is REFUNDED: budgets count
// actions that took effect, so an agent retrying a flaky upstream is not starved. An approval consumed by a
// failed call stays consumed (the operator approved one attempt), because a partial side effect cannot be ruled out.
import type { KnownCounterparties } from "../policy/known-counterparties";
import type { GovernanceAudit, ReservationStore } from "./ports";
import type { ActionResult, AuthorizedCall } from "./types";

export type RecordOutcome = (call: AuthorizedCall, result: ActionResult) => Promise<void>;

export function createRecordOutcome(deps: {
  audit: GovernanceAudit;
  reservations: ReservationStore;
  counterparties: { remember(...args: Parameters<KnownCounterparties["remember"]>): void | Promise<void> };
}): RecordOutcome {
  return async (call, result) => {
    if (!result.success) await deps.reservations.refund(call.slots);
    else
      for (const counterparty of call.counterparties ?? [])
        await deps.counterparties.remember(call.org_id, call.uapk_id, counterparty, call.at);
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
