// One SERVER span per HTTP request, with the HTTP semantic-convention attributes, continuing a caller's W3C
// `traceparent`. Installed by createApp only when tracing is on (no middleware at all otherwise). Everything
// the request does — the request log line, the policy decision, connector calls, audit records — runs inside it.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from "@opentelemetry/semantic-conventions";
import type { Middleware } from "koa";
import { tracer } from "../core/tracing";

export function traceRequests(): Middleware {
  return (ctx, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, ctx.req.headers);
    const span = tracer().startSpan(
      ctx.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: ctx.method,
          [ATTR_URL_PATH]: ctx.path,
          [ATTR_URL_SCHEME]: ctx.protocol,
          [ATTR_SERVER_ADDRESS]: ctx.hostname,
          [ATTR_SERVER_PORT]: ctx.req.socket.localPort ?? 0,
          [ATTR_CLIENT_ADDRESS]: ctx.req.socket.remoteAddress ?? "",
          [ATTR_NETWORK_PROTOCOL_VERSION]: ctx.req.httpVersion,
          [ATTR_USER_AGENT_ORIGINAL]: ctx.get("user-agent"),
        },
      },
      parent,
    );
    return context.with(trace.setSpan(parent, span), async () => {
      try {
        await next();
      } finally {
        // The route template is known once the router matched (low cardinality, unlike the path).
        const route = ctx.state.route as string | undefined;
        if (route) {
          span.updateName(`${ctx.method} ${route}`);
          span.setAttribute(ATTR_HTTP_ROUTE, route);
        }
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, ctx.status);
        if (typeof ctx.state.requestId === "string") span.setAttribute("gatehouse.request_id", ctx.state.requestId);
        if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    });
  };
}
