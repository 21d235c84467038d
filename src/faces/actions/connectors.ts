// The connector seam: how an ALLOWed action is executed. The service calls `runConnector(tool, params)`
// and trusts only its `{success, data?, error?}`; a throw is turned into `success: false`.
// Built in here: `echo` (returns what it was given — demos and tests) and `noop` (does nothing, succeeds).
// `http`, `webhook` and `puruto` need the SSRF-guarded connectors of src/core/connectors; until the lead
// passes them in, those tools report a clear failure instead of pretending to run.
import type { ToolConfig } from "../../core/policy/types";

export interface ConnectorResult {
  success: boolean;
  data?: Record<string, unknown>;
  error?: string;
  error_code?: string;
}

/** What other connector implementations may answer (src/core/connectors: `data: unknown`, `error: {code, message}`). */
export interface LooseConnectorResult {
  success: boolean;
  data?: unknown;
  error?: string | { code: string; message: string };
}

export interface ConnectorCall {
  /** `type:tool`. */
  capability: string;
  params: Record<string, unknown>;
  interactionId: string;
  signal?: AbortSignal;
}

export type ConnectorRunner = (tool: ToolConfig, call: ConnectorCall) => Promise<LooseConnectorResult>;

/** Normalises any connector answer to the wire shape `{success, data?, error?, error_code?}`. */
export function normalizeResult(raw: LooseConnectorResult): ConnectorResult {
  const out: ConnectorResult = { success: raw.success === true };
  if (raw.data !== undefined && raw.data !== null)
    out.data = typeof raw.data === "object" && !Array.isArray(raw.data) ? (raw.data as Record<string, unknown>) : { value: raw.data };
  if (typeof raw.error === "string") out.error = raw.error;
  else if (raw.error) {
    out.error = raw.error.message;
    out.error_code = raw.error.code;
  }
  return out;
}

/** Runs echo/noop; delegates every other connector type to `others` when given. */
export function builtinConnectors(others?: ConnectorRunner): ConnectorRunner {
  return async (tool, call) => {
    switch (tool.connector.type) {
      case "echo":
        return { success: true, data: { capability: call.capability, params: call.params } };
      case "noop":
        return { success: true };
      default:
        if (others) return others(tool, call);
        return { success: false, error: `connector type '${tool.connector.type}' is not available on this gateway` };
    }
  };
}
