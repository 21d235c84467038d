// The connector seam of the engine: an ALLOWed action runs its tool through the ONE connector registry of
// src/core/connectors (echo, noop, http, webhook with the SSRF guard, puruto). This file only adapts that
// registry to the engine: the tool's manifest `connector` block is the connector's config, and any answer (or
// throw) is normalised to the spec's ActionResult `{success, data?, error?, error_code?}`.
import type { ConnectorRegistry, ConnectorResult as CoreConnectorResult, PurutoInvoker } from "../connectors";
import type { ToolConfig } from "../policy/types";
import { traceToolRun } from "../tracing/governance";
import type { ActionResult } from "./types";

/** What a connector may answer before normalisation (core connectors: `data: unknown`, `error: {code, message}`). */
export interface LooseConnectorResult {
  success: boolean;
  data?: unknown;
  error?: string | { code: string; message: string };
}

export interface ToolCall {
  /** `type:tool`, named in connector error messages. */
  capability: string;
  params: Record<string, unknown>;
}

/** Runs one tool; resolves with `undefined` when no connector of the tool's type exists on this gateway. */
export type ToolRunner = (tool: ToolConfig, call: ToolCall) => (() => Promise<CoreConnectorResult>) | undefined;

/**
 * Binds a tool to its connector. Split in two steps (resolve, then run) so the service can refuse an
 * unavailable connector BEFORE it spends budget, an approval or writes an intent.
 */
export function toolRunner(registry: ConnectorRegistry): ToolRunner {
  return (tool, call) => {
    const connector = registry(tool.connector.type);
    if (!connector) return undefined;
    let signal: AbortSignal | undefined;
    const run = () =>
      connector({
        tool: call.capability,
        params: call.params,
        config: tool.connector as unknown as Record<string, unknown>,
        // Never aborted, and made on the connector's first read only (most connectors never read it). An agent that
        // hangs up does not cancel its authorized call: torn down once sent, the request may still have reached
        // the upstream, and the outcome would then say "not executed" of an action that took place (a retry with
        // a new key would act twice). The call ends at its connector's timeout, and its real outcome is recorded.
        get signal() {
          signal ??= new AbortController().signal;
          return signal;
        },
      });
    // A `connector <type>` span per call when tracing is on.
    return traceToolRun(tool.connector.type, call.capability, run);
  };
}

/** Normalises any connector answer to the wire shape `{success, data?, error?, error_code?}`. */
export function normalizeResult(raw: LooseConnectorResult): ActionResult {
  const out: ActionResult = { success: raw.success === true };
  if (raw.data !== undefined && raw.data !== null)
    out.data =
      typeof raw.data === "object" && !Array.isArray(raw.data)
        ? (raw.data as Record<string, unknown>)
        : { value: raw.data };
  if (typeof raw.error === "string") out.error = raw.error;
  else if (raw.error) {
    out.error = raw.error.message;
    out.error_code = raw.error.code;
  }
  return out;
}

/**
 * The port a `puruto` tool runs through. Core declares it; the composition root wires the purutos face's
 * invoker to it (core never imports a face).
 */
export interface PurutoCommandInvoker {
  invoke(request: {
    name: string;
    command: string;
    payload?: Record<string, unknown>;
    signal?: AbortSignal | undefined;
  }): Promise<{
    invocation: { status: "ok" | "error"; result?: Record<string, unknown>; error?: { code: string; message: string } };
  }>;
}

/**
 * A `puruto` tool runs a real puruto command through the discovery face's invoker: same allow list, same
 * scrubbed environment, same timeouts as `POST /purutos/{name}/{command}`. A command that fails (status
 * `error`) or is refused (unknown puruto, command not allowed) becomes a failed tool result with its code.
 */
export function purutoInvokerFrom(invoker: PurutoCommandInvoker): PurutoInvoker {
  return async (target, command, payload, signal) => {
    const params =
      payload && typeof payload === "object" && !Array.isArray(payload) ? (payload as Record<string, unknown>) : {};
    const { invocation } = await invoker.invoke({ name: target, command, payload: params, signal });
    if (invocation.status === "error") {
      const error = invocation.error ?? { code: "COMMAND_FAILED", message: `${target} ${command} failed` };
      throw Object.assign(new Error(error.message), { code: error.code });
    }
    return invocation.result ?? {};
  };
}
