// `puruto` connector: runs a command of a local puruto through the discovery face's invoker (injected by the
// lead, so this module does not depend on that face). Tool config: `{ type: "puruto", puruto: "puruto-crm",
// command?: "sync" }`; the command defaults to the tool name, the payload is the action's params.
import { failure, type Connector } from "./types";

export type PurutoInvoker = (
  target: string,
  command: string,
  payload: unknown,
  signal?: AbortSignal,
) => Promise<unknown>;

export function createPurutoConnector(invoke: PurutoInvoker): Connector {
  return async ({ tool, params, config, signal }) => {
    const target = config.puruto ?? config.target;
    if (typeof target !== "string" || target === "") {
      return failure("CONNECTOR_MISCONFIGURED", `Tool ${tool} does not name its puruto`);
    }
    const command = typeof config.command === "string" ? config.command : tool;
    try {
      return { success: true, data: await invoke(target, command, params, signal) };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return failure(typeof code === "string" ? code : "PURUTO_FAILED", (err as Error).message ?? String(err));
    }
  };
}
