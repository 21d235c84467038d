// What the governance engine takes and answers. The wire shapes are the spec's (generated/api-types.ts), so the
// REST adapter passes them through untouched; only the engine's own handles (AuthorizedCall) are declared here.
import type { components } from "../../../generated/api-types";
import type { BudgetSlot } from "../policy/budget-counters";
import type { ActionRequest } from "../policy/types";

type ProblemCode = components["schemas"]["ProblemCode"];

type Schemas = components["schemas"];

/** ExecuteRequest of the spec, with the action typed as the policy engine reads it. */
export type ExecuteRequest = ActionRequest & Pick<Schemas["ExecuteRequest"], "idempotency_key">;
/** The spec makes `reasons`/`timestamp` optional for the seed's idempotent example; Gatehouse always sends them. */
export type ExecuteResponse = Schemas["ExecuteResponse"] &
  Required<Pick<Schemas["ExecuteResponse"], "reasons" | "timestamp">>;
export type EvaluateResponse = Schemas["EvaluateResponse"];
export type BatchRequest = Schemas["BatchRequest"];
export type BatchResponse = Schemas["BatchResponse"];
export type BatchResultItem = Schemas["BatchResult"];
/** A connector's (or the IDE's) result of one call; the engine always says whether it succeeded. */
export type ActionResult = Schemas["ActionResult"] & { success: boolean };

export interface ExecuteOptions {
  /** Kept in the audit records (channel, request id, batch id…). */
  meta?: Record<string, unknown>;
  /**
   * The idempotency key's claim this call runs under (set by the idempotency wrapper): the reservation links it
   * to the call's interaction in the same commit as the intent. When the claim is no longer its owner's (taken
   * over meanwhile) the reservation writes nothing and the call stops with 409 IDEMPOTENCY_KEY_IN_FLIGHT.
   */
  claim?: IdempotencyClaim | undefined;
}

/** An idempotency key's claim as its owner (one id per idempotency store, i.e. per process) holds it. */
export interface IdempotencyClaim {
  org_id: string;
  agent_id: string;
  key: string;
  owner: string;
}

/** 409 IDEMPOTENCY_KEY_IN_FLIGHT: the key's call is running elsewhere, or its claim was taken over from us. */
export function keyInFlight(key: string): ActionConflictError {
  return new ActionConflictError(
    `A request with idempotency key '${key}' is still in progress`,
    "IDEMPOTENCY_KEY_IN_FLIGHT",
  );
}

/**
 * A call the engine ALLOWed and reserved (budget spent, approval consumed, intent on disk) that has not run yet.
 * Whoever runs it — a connector here, or the IDE for a session's tool call — reports back with `recordOutcome`.
 */
export interface AuthorizedCall {
  org_id: string;
  interaction_id: string;
  uapk_id: string;
  /** When the call was decided (the hourly window its budget was taken from). */
  at: Date;
  /** The budget units reserved; given back only if the call never reached its tool (see ./outcome.ts). */
  slots: BudgetSlot[];
  /** The tool's redaction paths, applied to the outcome's result. */
  redact?: readonly string[] | undefined;
  /** The action's recipients (normalised by the policy), remembered as known once the call succeeded. */
  counterparties?: readonly string[];
  meta: Record<string, unknown>;
}

/** The decision on one call: the spec's ExecuteResponse fields without a result (nothing ran yet). */
export type Authorization = Omit<ExecuteResponse, "executed" | "result"> & {
  /** Set when the call was ALLOWed and reserved. */
  call?: AuthorizedCall;
  /** Set when the call was ALLOWed but refused before anything was reserved (see AuthorizeOptions.gate). */
  gated?: true;
};

/** A request that conflicts with state (idempotency key with another body, approval used concurrently). */
export class ActionConflictError extends Error {
  constructor(
    message: string,
    readonly code: ProblemCode,
    /** Members the problem carries besides its code (IDEMPOTENCY_OUTCOME_UNKNOWN: the interaction). */
    readonly details: { interaction_id?: string } = {},
  ) {
    super(message);
    this.name = "ActionConflictError";
  }
}

/**
 * A collaborator this call needs is not wired (NOT_CONFIGURED, e.g. an idempotency key without a store) or does
 * not answer (DATABASE_UNAVAILABLE), or this node's store is not its cluster's (STORE_CONFLICT, src/store-claim.ts),
 * or its clock does not agree with the shared database's (CLOCK_SKEW, src/clock-skew.ts): the call fails closed
 * rather than ignore it.
 */
export class ActionUnavailableError extends Error {
  constructor(
    message: string,
    readonly code:
      | "NOT_CONFIGURED"
      | "DATABASE_UNAVAILABLE"
      | "STORE_CONFLICT"
      | "CLOCK_SKEW"
      | "OUTCOME_NOT_YET_RECORDED" = "NOT_CONFIGURED",
  ) {
    super(message);
    this.name = "ActionUnavailableError";
  }
}

/**
 * 503 OUTCOME_NOT_YET_RECORDED: the call RAN, but its records (audit outcome, idempotency answer) were not committed
 * within the bound (./durable.ts). They are still being written in the background; `answer` is the response they
 * will make (a key replays it once stored). The key, if any, stays in flight meanwhile: never released.
 */
export class OutcomePendingError extends ActionUnavailableError {
  constructor(
    readonly interaction_id: string,
    readonly answer: Promise<ExecuteResponse>,
  ) {
    super(
      `The action ran (interaction ${interaction_id}), but its records could not be stored yet: they are being ` +
        "written; do not run it again (with an idempotency_key, retry with the same key to get its answer)",
      "OUTCOME_NOT_YET_RECORDED",
    );
    this.name = "OutcomePendingError";
    // Its answer may fail later (the records given up): the retries log that, nobody awaits it here.
    answer.catch(() => undefined);
  }
}
