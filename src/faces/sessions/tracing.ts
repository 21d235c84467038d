// `ws.session`: one span per IDE WebSocket connection, from the accepted upgrade to the close (its code as an
// attribute). The socket is bound to the span's context, so what its frames cause — governed tool calls, their
// policy decisions, audit records — is traced inside it. Without tracing the connection is accepted directly.
import { context, SpanKind, trace } from "@opentelemetry/api";
import type { WebSocket } from "ws";
import { tracer, tracingActive } from "../../core/tracing";
import type { UpgradeContext } from "./ide-connection";
import { clientSessionId } from "./session-key";

export function traceSession(ws: WebSocket, ctx: UpgradeContext, accept: () => void): void {
  if (!tracingActive()) return accept();
  const span = tracer().startSpan("ws.session", {
    kind: SpanKind.SERVER,
    attributes: {
      // The id the IDE chose, as its user knows it; the key (id + owner tag) is what audit records and the runtime see.
      "gatehouse.session_id": clientSessionId(ctx.sessionId),
      "gatehouse.session_key": ctx.sessionId,
      "enduser.id": ctx.claims.sub,
      ...(ctx.claims.orgId ? { "gatehouse.org_id": ctx.claims.orgId } : {}),
      "gatehouse.session.resumed": ctx.lastSeq !== undefined,
    },
  });
  const sessionContext = trace.setSpan(context.active(), span);
  // Listeners added from here on (by acceptConnection) run in the session's context.
  context.bind(sessionContext, ws);
  ws.once("close", (code: number) => {
    span.setAttribute("gatehouse.ws.close_code", code);
    span.end();
  });
  context.with(sessionContext, accept);
}
