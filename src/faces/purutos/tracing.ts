// `puruto <name> <command>`: one span per puruto command (REST, MCP, or a governed `puruto` tool), with its
// target, command, request/correlation ids and how it ended. Without tracing, `invoke` is returned as is.
// It knows a request by its target and command only, so that it need not import the invoker that wraps itself.
import type { components } from "../../../generated/api-types";
import { inSpan, tracingActive } from "../../core/tracing";

type Invoke<R> = (request: R) => Promise<components["schemas"]["CommandAccepted"]>;

export function traceInvocations<R extends { name: string; command: string }>(invoke: Invoke<R>): Invoke<R> {
  return (request) => {
    if (!tracingActive()) return invoke(request);
    return inSpan(
      `puruto ${request.command}`,
      { attributes: { "gatehouse.puruto.name": request.name, "gatehouse.puruto.command": request.command } },
      async (span) => {
        const accepted = await invoke(request);
        const { invocation } = accepted;
        span.setAttributes({
          "gatehouse.puruto.status": invocation.status,
          "gatehouse.request_id": invocation.request_id,
          "gatehouse.correlation_id": invocation.correlation_id,
          "gatehouse.puruto.duration_ms": invocation.duration_ms,
          ...(invocation.error ? { "error.type": invocation.error.code } : {}),
        });
        return accepted;
      },
    );
  };
}
