// `puruto <name> <command>`: one span per puruto command (REST, MCP, or a governed `puruto` tool), with its
// target, command, request/correlation ids and how it ended. Without tracing, `invoke` is returned as is.
import { inSpan, tracingActive } from "../../core/tracing";
import type { InvokeAccepted, InvokeRequest } from "./invoker";

type Invoke = (request: InvokeRequest) => Promise<InvokeAccepted>;

export function traceInvocations(invoke: Invoke): Invoke {
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
