// The Koa application: request id + log → problem+json errors → body parsing → spec-driven routes.
import Koa from "koa";
import { koaBody } from "koa-body";
import { randomUUID } from "node:crypto";
import { Counter, Histogram } from "prom-client";
import type { Logger } from "../core/log/logger";
import { registry } from "../core/metrics/registry";
import type { Authenticator } from "./auth";
import { problemMiddleware } from "./errors";
import type { Handlers } from "./handlers";
import { HttpProblem } from "./problem";
import { allowedMethods, buildRouter } from "./router";
import type { LoadedSpec } from "./spec";

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

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface AppOptions {
  spec: LoadedSpec;
  handlers: Handlers;
  auth: Authenticator;
  logger: Logger;
  maxBodyBytes: number;
}

export function createApp({ spec, handlers, auth, logger, maxBodyBytes }: AppOptions): Koa {
  const app = new Koa();
  app.silent = true; // errors are rendered and logged by problemMiddleware

  app.use(async (ctx, next) => {
    const incoming = ctx.get("X-Request-Id");
    const requestId = SAFE_ID.test(incoming) ? incoming : `req-${randomUUID()}`;
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ request_id: requestId });
    ctx.set("X-Request-Id", requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (ctx.state.route as string | undefined) ?? "unmatched";
      requests.inc({ method: ctx.method, route, status: String(ctx.status) });
      latency.observe({ method: ctx.method, route }, seconds);
      ctx.state.log.info(
        { method: ctx.method, path: ctx.path, route, status: ctx.status, ms: Math.round(seconds * 1e4) / 10 },
        "request",
      );
    }
  });
  app.use(problemMiddleware);
  app.use(
    koaBody({
      json: true,
      jsonStrict: true,
      jsonLimit: maxBodyBytes,
      text: false,
      urlencoded: false,
      multipart: false,
      // Keep the raw body off: we only need parsed JSON.
      includeUnparsed: false,
      onError: (err: Error) => {
        throw err;
      },
    }),
  );
  // Unknown path → 404; known path with another method → 405 with Allow (from allowedMethods).
  app.use(async (ctx, next) => {
    await next();
    if (ctx.status === 405) {
      throw new HttpProblem(405, `Method ${ctx.method} is not allowed here`, {
        code: "METHOD_NOT_ALLOWED",
        headers: { Allow: ctx.response.get("Allow") },
      });
    }
    if (ctx.status === 404 && ctx.body === undefined) {
      throw new HttpProblem(404, "No such route", { code: "ROUTE_NOT_FOUND" });
    }
  });
  const router = buildRouter(spec, handlers, auth);
  app.use(allowedMethods(router));
  app.use(router.routes());
  return app;
}
