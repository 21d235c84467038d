// Routes come from the spec: each OpenAPI operation is looked up in one table (./routes.ts). Each request is
// authenticated from the operation's security, its path/query/body validated with Ajv, then handed to the handler
// registered under the operationId. An operation without a handler answers 501 problem+json naming it — never a fake success.

import type { ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { ValidateFunction } from "ajv/dist/2020.js";
import type { Context } from "koa";
import type { Principal } from "../core/identity/principal";
import type { Authenticator } from "./auth";
import { hasJsonMediaType } from "./body/json-body";
import { assertJsonShape } from "./body/json-shape";
import { problem } from "./boundary";
import type { RouteGuard } from "./boundary/guard";
import { isOrgRoute, orgRouteGuard } from "./boundary/org-scope";
import { controlCharacterParams } from "./control-characters";
import { nonDecimalParams } from "./decimal-params";
import { type Handler, type HandlerGroup, type OperationId, type OperationRequest, SerializedJson } from "./handlers";
import { HttpProblem, type ProblemItem } from "./problem";
import { buildRouteTable } from "./routes";
import { describeErrors, type LoadedSpec, type OperationSpec } from "./spec";

/** The request carries a body (a length other than 0, or chunked). */
export function hasBody(ctx: Context): boolean {
  const { "content-length": length, "transfer-encoding": encoding } = ctx.req.headers;
  return Boolean(encoding) || (length !== undefined && length !== "" && length !== "0");
}

function validateParts(op: OperationSpec, ctx: Context, params: Record<string, string>) {
  // Koa parses (and caches) even an empty query string: most requests have none.
  const query: Record<string, unknown> = ctx.querystring ? { ...ctx.query } : {};
  // Before Ajv, whose coercion replaces the text with the number it reads.
  const unreadable = [
    ...controlCharacterParams({ path: params, query }),
    ...nonDecimalParams(op.numericParams, { path: params, query }),
  ];
  const problems: ProblemItem[] = [];
  let valid = passes(problems, "path", op.validatePath, params);
  valid = passes(problems, "query", op.validateQuery, query) && valid;
  if (op.validateHeaders) valid = passes(problems, "headers", op.validateHeaders, declaredHeaders(op, ctx)) && valid;

  let body: unknown;
  if (hasBody(ctx)) {
    if (!hasJsonMediaType(ctx)) {
      throw new HttpProblem(415, "Request bodies must be application/json", { code: "UNSUPPORTED_MEDIA_TYPE" });
    }
    body = (ctx.request as { body?: unknown }).body;
    // Depth and finite numbers first: the schema validators and every later step assume a bounded, finite value.
    if (body !== undefined) assertJsonShape(body);
  }
  if (body === undefined && op.bodyRequired) {
    problems.push({ pointer: "/body", message: "a JSON request body is required" });
  } else if (body !== undefined) {
    valid = passes(problems, "body", op.validateBody, body) && valid;
  }
  if (!valid || problems.length || unreadable.length) {
    // What Ajv made of a non-decimal value (`Infinity`: "must be <= 500") would only confuse the one problem it has.
    const reported = new Set(unreadable.map((p) => p.pointer));
    const errors = [...unreadable, ...problems.filter((p) => !reported.has(p.pointer))];
    if (!errors.length) errors.push({ pointer: "/", message: "does not match the schema" });
    const detail = errors.map((p) => `${p.pointer}: ${p.message}`).join("; ");
    throw new HttpProblem(400, `Request is invalid: ${detail}`, { code: "VALIDATION_FAILED", errors });
  }
  return { query, body };
}

/** The request's values of the header parameters the operation declares (present ones only). */
function declaredHeaders(op: OperationSpec, ctx: Context): Record<string, string | string[]> {
  const values: Record<string, string | string[]> = {};
  for (const name of op.headerNames) {
    const value = ctx.headers[name];
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/** Whether `value` passes `validate` (no validator: it does); what it does not pass is added to `problems`. */
function passes(
  problems: ProblemItem[],
  where: "path" | "query" | "body" | "headers",
  validate: ValidateFunction | undefined,
  value: unknown,
): boolean {
  if (!validate || validate(value)) return true;
  problems.push(...describeErrors(where, validate.errors));
  return false;
}

/**
 * What a handler is given. A class, not an object literal with a getter: V8 keeps an object literal that has an
 * accessor as a slow dictionary (%HasFastProperties false; ~750 ns to make, against ~15 for this class), and every
 * read of it in the handlers went the slow way. Measured in-process, alternating runs: GET /health 52–56 → 18–21 µs
 * of CPU per request, evaluate 133–142 → 44–83.
 */
class IncomingOperation {
  #signal: AbortSignal | undefined;
  readonly #res: ServerResponse;
  constructor(
    readonly params: Record<string, string>,
    readonly query: Record<string, unknown>,
    readonly body: unknown,
    readonly headers: OperationRequest<OperationId>["headers"],
    readonly principal: Principal,
    readonly requestId: string,
    res: ServerResponse,
  ) {
    this.#res = res;
  }

  /** Aborted when the client goes away before we answered (made on first use only). */
  get signal(): AbortSignal {
    this.#signal ??= abortedWhenClientLeaves(this.#res);
    return this.#signal;
  }
}

/**
 * Aborted when the client goes away before we answered: the response's close (not the request's: that fires
 * as soon as a body has been read) without the response having been sent.
 */
function abortedWhenClientLeaves(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  if (res.destroyed && !res.writableEnded) controller.abort();
  else
    res.once("close", () => {
      if (!res.writableEnded) controller.abort();
    });
  return controller.signal;
}

/** Reads the JSON body of the request into `ctx.request.body` (./body/json-body.ts, with the configured limit). */
export type BodyParser = (ctx: Context) => Promise<void>;

/**
 * A body (the request has one: hasBody) is read only once the caller is authenticated and only for an operation
 * that takes one: a body sent to an operation without a documented request body is refused unread (400), never
 * silently accepted.
 */
async function readBody(op: OperationSpec, ctx: Context, parseBody: BodyParser): Promise<void> {
  if (!op.takesBody) {
    const item = { pointer: "/body", message: "this operation takes no request body" };
    throw new HttpProblem(400, `Request is invalid: ${item.pointer}: ${item.message}`, {
      code: "VALIDATION_FAILED",
      errors: [item],
    });
  }
  await parseBody(ctx);
}

/** Runs the operation a request names, or throws 404 / 405 (with Allow). */
export type Dispatcher = (ctx: Context) => Promise<void>;

/**
 * `guards`: the faces' authorization rules (./boundary/guard.ts), run after authentication and before the body is
 * read or anything is validated (403 before 400, 413, 415); the org routes' guard always comes first.
 */
export function buildDispatcher(
  spec: LoadedSpec,
  handlers: HandlerGroup,
  auth: Authenticator,
  parseBody: BodyParser,
  guards: readonly RouteGuard[] = [],
): Dispatcher {
  const table = buildRouteTable(spec.operations);
  const operations = new Map<OperationSpec, OperationRunner>();
  for (const op of spec.operations) operations.set(op, operationRunner(op, handlers, auth, parseBody, guards));
  return async (ctx) => {
    // ctx.request and ctx.req, not ctx's delegates (megamorphic property reads on every request, issue #17).
    const path = ctx.request.path;
    const found = table.match(ctx.req.method as string, path);
    if (found) return (operations.get(found.op) as OperationRunner)(ctx, found.params);
    answerUnmatched(ctx, table.methodsAt(path));
  };
}

/**
 * No operation has this method at this path: 404 when none has the path, else 405 with Allow. OPTIONS is such a
 * method (no operation has it, and no browser preflight needs it: the console is served from the gateway's own
 * origin), so it gets the same documented 405, whose Allow names the path's methods.
 */
function answerUnmatched(ctx: Context, allowed: string[]): void {
  if (!allowed.length) throw problem("ROUTE_NOT_FOUND", "No such route");
  const allow = allowed.join(", ");
  throw problem("METHOD_NOT_ALLOWED", `Method ${ctx.method} is not allowed here`, { headers: { Allow: allow } });
}

type OperationRunner = (ctx: Context, params: Record<string, string>) => Promise<void>;

/** The agent's read of one of its approvals (GET /api/v1/gateway/approvals/{approval_id}). */
const AGENT_APPROVALS = "/api/v1/gateway/approvals/";

/** One operation end to end: authenticate, guard, read and validate, run its handler, write its reply. */
function operationRunner(
  op: OperationSpec,
  handlers: HandlerGroup,
  auth: Authenticator,
  parseBody: BodyParser,
  guards: readonly RouteGuard[],
): OperationRunner {
  const handler = handlers[op.operationId] as Handler<OperationId> | undefined;
  const opGuards = [orgRouteGuard, ...guards].filter((guard) => guard.appliesTo(op));
  // The operator API answers with an org's approvals (their params), audit log, tokens and webhooks, and the agent's
  // approval read with that approval's params: with no Cache-Control a browser keeps them in its disk cache after
  // the tab is closed, and a shared cache may keep them too. A handler may still say otherwise in its own headers.
  const cacheControl = isOrgRoute(op) || op.path.startsWith(AGENT_APPROVALS) ? "no-store" : undefined;
  return async (ctx, params) => {
    ctx.state.route = op.path;
    ctx.state.operationId = op.operationId;
    const principal = await auth.authenticate(ctx, op.security);
    for (const guard of opGuards) guard.check(principal, params);
    // A GET has no body: no async call to wait for (issue #17: each await is a microtask turn per request).
    if (hasBody(ctx)) await readBody(op, ctx, parseBody);
    const { query, body } = validateParts(op, ctx, params);
    if (!handler) {
      throw new HttpProblem(501, `Operation ${op.operationId} (${op.method} ${op.path}) is not implemented yet`, {
        code: "NOT_IMPLEMENTED",
        operation: op.operationId,
      });
    }
    const request = new IncomingOperation(
      params,
      query,
      body,
      ctx.req.headers as Record<string, string | undefined>,
      principal,
      ctx.state.requestId as string,
      ctx.res,
    ) as unknown as OperationRequest<OperationId>;
    // Each handler's reply is checked against its own operation at compile time; here any reply will do.
    const reply = (await handler(request)) as { status: number; body?: unknown; headers?: Record<string, string> };
    if (cacheControl) ctx.set("Cache-Control", cacheControl);
    writeReply(ctx, op, reply);
  };
}

function writeReply(
  ctx: Context,
  op: OperationSpec,
  reply: { status: number; body?: unknown; headers?: Record<string, string> },
): void {
  // Koa's response and Node's, not ctx's delegates, and headers straight to the response (Koa's ctx.set is a delegate
  // and a wrapper around the same setHeader): nothing has been written yet, the handler's headers are strings, and
  // this runs on every request (issue #17).
  const { req, res, response } = ctx;
  response.status = reply.status;
  if (reply.headers) for (const name in reply.headers) res.setHeader(name, reply.headers[name] as string);
  const declared = op.responses.get(reply.status)?.contentType;
  const typeFromHandler = reply.headers?.["content-type"] ?? reply.headers?.["Content-Type"];
  // The type is set before the body, so Koa's body setter does not guess one first (each guess and each
  // `ctx.type =` is a mime-types look-up; see setContentType).
  if (reply.body instanceof SerializedJson) {
    if (declared && !typeFromHandler) setContentType(ctx, declared);
    if (reply.body.etag) res.setHeader("ETag", reply.body.etag);
    response.body = reply.body.bytes;
  } else {
    if (!typeFromHandler) {
      if (declared) setContentType(ctx, declared);
      else if (isJsonValue(reply.body)) setContentType(ctx, "json");
    }
    response.body = serializedBody(reply.body);
  }
  // A GET whose If-None-Match names the current ETag: the client already has these bytes.
  const ifNoneMatch = req.headers["if-none-match"];
  if (
    reply.body instanceof SerializedJson &&
    reply.body.etag &&
    ifNoneMatch &&
    (req.method === "GET" || req.method === "HEAD")
  ) {
    if (namesEtag(ifNoneMatch, reply.body.etag)) response.status = 304;
  }
}

/**
 * Whether an If-None-Match value names `etag` (RFC 9110 §13.1.2: `*`, or a list compared weakly). Evaluated here,
 * not by Koa's `fresh`, which ignores the condition when the request says `Cache-Control: no-cache` — as fetch, in
 * browsers and in Node, does with every If-None-Match — so no fetch-based client (the typed one included) ever got a
 * 304. That directive asks caches to revalidate with the origin; this is the origin.
 */
function namesEtag(ifNoneMatch: string, etag: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((tag) => opaque(tag) === opaque(etag));
}

/** A value the router serialises as JSON (not text, bytes or a stream). */
function isJsonValue(body: unknown): boolean {
  return typeof body === "object" && body !== null && !Buffer.isBuffer(body) && !(body instanceof Readable);
}

/** Koa's full header for each short type (`json` → `application/json; charset=utf-8`), worked out once per type. */
const contentTypeHeaders = new Map<string, string>();

function setContentType(ctx: Context, type: string): void {
  const header = contentTypeHeaders.get(type);
  if (header !== undefined) {
    ctx.res.setHeader("Content-Type", header);
    return;
  }
  ctx.type = type;
  // The types come from the spec's responses and this file: a handful, so the map stays small.
  const worked = ctx.response.get("Content-Type");
  if (worked) contentTypeHeaders.set(type, worked);
}

/**
 * The reply as the bytes sent. Serialised here, inside the middleware chain, rather than by Koa after it: an
 * error while writing the response (a value JSON cannot represent) then still leaves as problem+json.
 */
function serializedBody(body: unknown): string | Buffer | Readable {
  if (body === undefined || body === null) return "";
  if (typeof body === "string" || Buffer.isBuffer(body) || body instanceof Readable) return body;
  return JSON.stringify(body);
}
