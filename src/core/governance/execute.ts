// execute: authorize (decide + write-ahead reservation), run the tool's connector, record its outcome (answered once
// it is stored, or 503 OUTCOME_NOT_YET_RECORDED past a bound while it is still being written: ./durable.ts).
// A tool whose connector type is not available on this gateway is refused before anything is reserved, so an
// approval stays usable once the gateway is configured.
import { MAX_RESULT_DEPTH, nestedDeeperThan } from "../audit/bound";
import { canonicalJson } from "../audit/canonical";
import { NOT_SENT_FAILURES } from "../connectors/types";
import { logger } from "../log/logger";
import type { BudgetCounters } from "../policy/budget-counters";
import { riskSnapshot } from "../policy/checks/budget";
import { capabilityOf, type RiskSnapshot } from "../policy/types";
import type { Authorize } from "./authorize";
import { normalizeResult, type ToolRunner } from "./connectors";
import { DEFAULT_RECORD_WAIT_MS, settlesWithin } from "./durable";
import type { RecordOutcome } from "./outcome";
import {
  type ActionResult,
  type AuthorizedCall,
  type ExecuteOptions,
  type ExecuteRequest,
  type ExecuteResponse,
  OutcomePendingError,
} from "./types";

const log = logger.child({ module: "governance" });

type Start = () => Promise<Parameters<typeof normalizeResult>[0]>;

export type ExecuteOnce = (
  orgId: string,
  request: ExecuteRequest,
  options?: ExecuteOptions,
) => Promise<ExecuteResponse>;

export function createExecute(deps: {
  authorize: Authorize;
  runTool: ToolRunner;
  recordOutcome: RecordOutcome;
  budgets: { current(...args: Parameters<BudgetCounters["current"]>): number | Promise<number> };
  /** How long the answer waits for the outcome to be stored after the call ran (30 s unless configured). */
  recordWaitMs?: number | undefined;
}): ExecuteOnce {
  async function run(start: Start, call: AuthorizedCall, capability: string): Promise<ActionResult> {
    try {
      return storable(normalizeResult(await start()), call);
    } catch (err) {
      log.warn({ err, capability, interactionId: call.interaction_id }, "connector threw");
      return { success: false, error: String((err as Error)?.message ?? err), error_code: "CONNECTOR_ERROR" };
    }
  }

  /**
   * The connector's answer as something the audit log can hash and the response can carry. A connector that
   * answers a value canonical JSON cannot represent (NaN, a BigInt, a cycle) or nested too deep for JSON.stringify
   * (an upstream's thousands of brackets) still ran: its success stands, its data is replaced by a note instead of
   * failing the request after the side effect (a 500, and an intent with no outcome in the audit).
   */
  function storable(result: ActionResult, call: AuthorizedCall): ActionResult {
    try {
      if (nestedDeeperThan(result, MAX_RESULT_DEPTH))
        throw new RangeError(`the result nests deeper than ${MAX_RESULT_DEPTH} levels`);
      canonicalJson(result);
      return result;
    } catch (err) {
      log.warn({ err, interactionId: call.interaction_id }, "connector result is not representable as JSON");
      const { data: _data, ...rest } = result;
      return { ...rest, data: { unrepresentable_result: String((err as Error).message) } };
    }
  }

  /**
   * Records the outcome. The connector has already run, so a failure here (the store is away) must not turn into
   * a 5xx that invites a retry of a side effect that happened, nor be dropped (an intent with no outcome): the
   * write is tried again until it is stored (./durable.ts). Given up (after 24 h, or a recorder that gives up
   * sooner), it is logged loudly and the answer stands.
   */
  async function recordAfterSideEffect(call: AuthorizedCall, result: ActionResult): Promise<void> {
    try {
      // Only this gateway's connectors report NOT_SENT_FAILURES: their code is the gateway's own statement.
      const nothingSent = !result.success && NOT_SENT_FAILURES.has(result.error_code ?? "");
      await deps.recordOutcome(call, result, { nothingSent, untilStored: true });
    } catch (err) {
      log.error({ err, interactionId: call.interaction_id }, "outcome could not be recorded after the connector ran");
    }
  }

  /** The answer once the outcome is stored; past the bound, OutcomePendingError (the writes go on). */
  async function answerOnceRecorded(recorded: Promise<ExecuteResponse>, call: AuthorizedCall) {
    if (await settlesWithin(recorded, deps.recordWaitMs ?? DEFAULT_RECORD_WAIT_MS)) return recorded;
    log.error({ interactionId: call.interaction_id }, "the call ran; its outcome is not stored yet: still trying");
    throw new OutcomePendingError(call.interaction_id, recorded);
  }

  async function snapshotSafely(call: AuthorizedCall, before: RiskSnapshot | undefined) {
    try {
      return await snapshotAfter(call, before);
    } catch (err) {
      log.warn({ err, interactionId: call.interaction_id }, "risk snapshot unavailable after execution");
      return undefined;
    }
  }

  /**
   * The hourly budget after this call (its refund included), as the budget check reports it; the money budget
   * beside it read again when the call spent it, else as the decision saw it (this call moved none of it).
   */
  async function snapshotAfter(call: AuthorizedCall, before: RiskSnapshot | undefined) {
    const hourly = call.slots[0]?.scope.startsWith("hour:") ? call.slots[0] : undefined;
    if (!hourly) return undefined;
    const money = call.slots.find((slot) => slot.scope.startsWith("money:"));
    const [count, moneyCount] = await Promise.all([
      deps.budgets.current(hourly.scope, hourly.window),
      money && before?.amount_currency !== undefined ? deps.budgets.current(money.scope, money.window) : undefined,
    ]);
    const currency = before?.amount_currency;
    const spent = money && moneyCount !== undefined && currency !== undefined;
    const snapshot = riskSnapshot(
      count,
      hourly.limit,
      spent ? { slot: money, current: moneyCount, currency } : undefined,
    );
    if (spent || !before || currency === undefined) return snapshot;
    const { budget_current: _current, budget_limit: _limit, budget_percent: _percent, ...moneyAsDecided } = before;
    return { ...snapshot, ...moneyAsDecided };
  }

  return async function execute(orgId, request, options = {}) {
    const capability = capabilityOf(request.action);
    let start: Start | undefined;
    let connectorType = "";
    const { call, gated, ...answer } = await deps.authorize(orgId, request, {
      meta: options.meta,
      claim: options.claim,
      gate: (tool) => {
        connectorType = tool.connector.type;
        // No caller's signal: once authorized, the call runs to its connector's own timeout and its outcome is
        // recorded whether the caller stays or not (see toolRunner).
        start = deps.runTool(tool, { capability, params: request.action.params });
        return start ? undefined : { connector_unavailable: connectorType };
      },
    });
    if (gated) {
      const result: ActionResult = {
        success: false,
        error: `Connector type '${connectorType}' is not available on this gateway`,
        error_code: "CONNECTOR_UNAVAILABLE",
      };
      return Object.assign(answer, { executed: false, result });
    }
    if (!call || !start) return Object.assign(answer, { executed: false });
    const result = await run(start, call, capability);
    const recorded = recordAfterSideEffect(call, result).then(async (): Promise<ExecuteResponse> => {
      const snapshot = await snapshotSafely(call, answer.risk_snapshot);
      // Object.assign onto the fresh `answer`, not `{ ...answer, executed, … }`: adding properties after a spread
      // takes V8's slow path on Node 20 (about 0.6 µs each).
      return Object.assign(answer, snapshot ? { risk_snapshot: snapshot } : {}, { executed: result.success, result });
    });
    return answerOnceRecorded(recorded, call);
  };
}
