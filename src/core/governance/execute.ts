// execute: authorize (decide + write-ahead reservation), run the tool's connector, record its outcome.
// A tool whose connector type is not available on this gateway is refused before anything is reserved, so an
// approval stays usable once the gateway is configured.
import { logger } from "../log/logger";
import { riskSnapshot } from "../policy/checks/budget";
import type { BudgetCounters } from "../policy/budget-counters";
import { capabilityOf } from "../policy/types";
import type { Authorize } from "./authorize";
import { normalizeResult, type ToolRunner } from "./connectors";
import type { RecordOutcome } from "./outcome";
import type { ActionResult, AuthorizedCall, ExecuteOptions, ExecuteRequest, ExecuteResponse } from "./types";

const log = logger.child({ module: "governance" });

type Start = () => Promise<Parameters<typeof normalizeResult>[0]>;

export type ExecuteOnce = (orgId: string, request: ExecuteRequest, options?: ExecuteOptions) => Promise<ExecuteResponse>;

export function createExecute(deps: {
  authorize: Authorize;
  runTool: ToolRunner;
  recordOutcome: RecordOutcome;
  budgets: { current(...args: Parameters<BudgetCounters["current"]>): number | Promise<number> };
}): ExecuteOnce {
  async function run(start: Start, call: AuthorizedCall, capability: string): Promise<ActionResult> {
    try {
      return normalizeResult(await start());
    } catch (err) {
      log.warn({ err, capability, interactionId: call.interaction_id }, "connector threw");
      return { success: false, error: (err as Error).message, error_code: "CONNECTOR_ERROR" };
    }
  }

  /** The hourly budget after this call (its refund included), as the budget check reports it. */
  async function snapshotAfter(call: AuthorizedCall) {
    const hourly = call.slots[0]?.scope.startsWith("hour:") ? call.slots[0] : undefined;
    return hourly ? riskSnapshot(await deps.budgets.current(hourly.scope, hourly.window), hourly.limit) : undefined;
  }

  return async function execute(orgId, request, options = {}) {
    const capability = capabilityOf(request.action);
    let start: Start | undefined;
    let connectorType = "";
    const { call, gated, ...answer } = await deps.authorize(orgId, request, {
      meta: options.meta,
      gate: (tool) => {
        connectorType = tool.connector.type;
        start = deps.runTool(tool, { capability, params: request.action.params, signal: options.signal });
        return start ? undefined : { connector_unavailable: connectorType };
      },
    });
    if (gated) {
      const result: ActionResult = {
        success: false,
        error: `Connector type '${connectorType}' is not available on this gateway`,
        error_code: "CONNECTOR_UNAVAILABLE",
      };
      return { ...answer, executed: false, result };
    }
    if (!call || !start) return { ...answer, executed: false };
    const result = await run(start, call, capability);
    await deps.recordOutcome(call, result);
    const snapshot = await snapshotAfter(call);
    return { ...answer, ...(snapshot ? { risk_snapshot: snapshot } : {}), executed: result.success, result };
  };
}
