// The Koa application: one layer — request id, the spec operation (or a mount) the request names, problem+json
// errors, metrics and the request log line.
import Koa, { type Context } from "koa";
import { Counter, Histogram } from "prom-client";
import type { Logger } from "../core/log/logger";
import { registry } from "../core/metrics/registry";
import { tracingActive } from "../core/tracing";
import type { Authenticator } from "./auth";
import { readJsonBody } from "./body/json-body";
import { assertJsonShape } from "./body/json-shape";
import { bodyReaderWithin } from "./body/timeout";
import { type AllowedHosts, decideRequestId, requestHostRefusal } from "./boundary";
import type { RouteGuard } from "./boundary/guard";
import { respondWithProblem } from "./errors";
import type { HandlerGroup } from "./handlers";
import { buildDispatcher, hasBody } from "./router";
import type { LoadedSpec } from "./spec";
import { traceRequests } from "./tracing";

const requests = new Counter({
  name: "http_requests_total",
  help: "HTTP requests by route template, method and status",
  labelNames: ["method", "route", "status"],
  registers: [registry],
});
const latency = new Histogram({
  name: "http_request_duration_seconds",
  help: "HTTP request latency by route template",
  labelNames: ["method", "route"],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  registers: [registry],
});

/**
 * A door that is not a spec operation (the MCP face's JSON-RPC endpoints) under a path prefix. It runs inside
 * the outer layer (request id, problem+json errors, metrics, request log) but before the JSON body parser, so it
 * authenticates before reading a body; `parseJsonBody` parses it with the REST limits and rules.
 */
export interface Mount {
  prefix: string;
  handle(ctx: Context, tools: { parseJsonBody(ctx: Context): Promise<unknown> }): Promise<void>;
}

export interface AppOptions {
  spec: LoadedSpec;
  mounts?: Mount[];
  handlers: HandlerGroup;
  auth: Authenticator;
  logger: Logger;
  maxBodyBytes: number;
  /** A body still arriving after this long → 408 and the connection closed (default 15 s). */
  bodyTimeoutMs?: number;
  /** The faces' authorization rules, checked before any body is read or validated (./boundary/guard.ts). */
  guards?: readonly RouteGuard[];
  /**
   * The names the gateway answers for (GATEHOUSE_ALLOWED_HOSTS, ./boundary/hosts.ts): any other `Host`, or a
   * browser's `Origin` elsewhere, is refused before routing (DNS rebinding). Default: any.
   */
  allowedHosts?: AllowedHosts;
}

export const DEFAULT_BODY_TIMEOUT_MS = 15_000;

export function createApp({
  spec,
  handlers,
  auth,
  logger,
  maxBodyBytes,
  bodyTimeoutMs = DEFAULT_BODY_TIMEOUT_MS,
  mounts = [],
  guards = [],
  allowedHosts = { any: true },
}: AppOptions): Koa {
  const app = new Koa();
  app.silent = true; // errors are rendered and logged by respondWithProblem

  const readWithin = bodyReaderWithin(bodyTimeoutMs);
  const parseWithin = (ctx: Context) => readWithin(ctx, () => readJsonBody(ctx, { limitBytes: maxBodyBytes }));
  // The body is parsed by the route, after authentication, and only for an operation that takes one.
  const dispatch = buildDispatcher(spec, handlers, auth, parseWithin, guards);
  const tools = {
    async parseJsonBody(ctx: Context): Promise<unknown> {
      if (!hasBody(ctx)) return undefined;
      await parseWithin(ctx);
      const body = (ctx.request as { body?: unknown }).body;
      // The REST bounds too: a tool call's arguments nested 50k deep overflowed the stack inside the MCP SDK,
      // and `1e309` reached a puruto command as null where REST refuses it.
      if (body !== undefined) assertJsonShape(body);
      return body;
    },
  };
  // A mount (the MCP endpoints) answers its own prefix; every other request is a spec operation or 404 / 405.
  const route = (ctx: Context): Promise<void> => {
    const path = ctx.request.path;
    for (const mount of mounts) if (path.startsWith(mount.prefix)) return mount.handle(ctx, tools);
    return dispatch(ctx);
  };

  // The request line holds only the fields written below, none a credential: it skips the logger's redaction, whose
  // wildcard paths (`*.token`…) visit every field of every line (2.3 of 3.6 µs a line in a micro-benchmark).
  const requestLog = logger.child({}, { redact: [] });

  // A span per request, around everything else, only when tracing is on.
  if (tracingActive()) app.use(traceRequests());
  // One layer (every Koa layer costs a closure and a promise per request): request id, the route, the
  // problem+json rendering of anything thrown, then metrics and the request log line.
  app.use(async (ctx) => {
    const incomingId = ctx.req.headers["x-request-id"];
    const requestId = decideRequestId(typeof incomingId === "string" ? incomingId : undefined);
    ctx.state.requestId = requestId;
    // Not a child logger per request (it serialises its bindings up front): lines name the request themselves.
    ctx.state.log = logger;
    ctx.res.setHeader("X-Request-Id", requestId);
    const started = process.hrtime.bigint();
    try {
      // Before any route, mount or credential: a rebound page learns nothing, not even which paths exist.
      const misdirected = requestHostRefusal(allowedHosts, ctx.req);
      if (misdirected) throw misdirected;
      await route(ctx);
    } catch (err) {
      respondWithProblem(ctx, err);
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (ctx.state.route as string | undefined) ?? "unmatched";
      // Node's request and response, not ctx's delegates (megamorphic property reads on every request, issue #17).
      const method = ctx.req.method as string;
      const status = ctx.res.statusCode;
      requests.inc({ method, route, status: String(status) });
      latency.observe({ method, route }, seconds);
      requestLog.info(
        {
          request_id: requestId,
          method,
          path: ctx.request.path,
          route,
          status,
          ms: Math.round(seconds * 1e4) / 10,
        },
        "request",
      );
    }
  });
  return app;
}
