// Every error leaves as application/problem+json (RFC 9457), whatever threw it: our HttpProblem (the JSON body
// reader, ./body/json-body.ts, throws its 400/413/415 as HttpProblems), a library's error carrying an HTTP status,
// or an unexpected bug (500, logged, no internals leaked).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Context } from "koa";
import { ActionUnavailableError } from "../core/governance/types";
import { isTransientDatabaseError, isUnstorableTextError } from "../core/store/transient-errors";
import { decideRequestId, HttpProblem, problem as problemOf, rawProblemResponse, renderProblem } from "./boundary";

/** Maps what libraries throw to a problem. */
export function toProblem(err: unknown): HttpProblem {
  if (err instanceof HttpProblem) return err;
  // A store that does not answer (PostgreSQL down) or a collaborator not configured: 503, fail closed.
  if (err instanceof ActionUnavailableError) return problemOf(err.code, err.message);
  // A store call no service wrapper translated (the database answers again by the time anyone looks).
  if (isTransientDatabaseError(err))
    return problemOf("DATABASE_UNAVAILABLE", "The database is unavailable: try again later");
  // Text a field's pattern did not refuse, which PostgreSQL cannot store: the request's fault, nothing written.
  if (isUnstorableTextError(err))
    return new HttpProblem(400, "Request is invalid: it holds text the database cannot store (NUL, U+0000)", {
      code: "VALIDATION_FAILED",
      errors: [{ pointer: "/body", message: "must not hold NUL (U+0000)" }],
    });
  const e = err as { status?: number; statusCode?: number; type?: string; message?: string; expose?: boolean };
  const status = e.status ?? e.statusCode;
  if (e.type === "entity.too.large" || status === 413) {
    return new HttpProblem(413, "Request body is larger than the configured limit", { code: "PAYLOAD_TOO_LARGE" });
  }
  if (status === 415)
    return new HttpProblem(415, e.message ?? "Unsupported media type", { code: "UNSUPPORTED_MEDIA_TYPE" });
  if (status && status >= 400 && status < 500 && e.expose) {
    return new HttpProblem(status, e.message ?? "Bad request");
  }
  return new HttpProblem(500, "Internal server error", { code: "INTERNAL_ERROR" });
}

/** Renders whatever was thrown as the response (problem+json); an unexpected error is logged. */
export function respondWithProblem(ctx: Context, err: unknown): void {
  const problem = toProblem(err);
  if (problem.status >= 500 && !(err instanceof HttpProblem)) {
    ctx.state.log?.error({ err, request_id: ctx.state.requestId }, "unhandled error");
  }
  const rendered = renderProblem(problem, { instance: ctx.path, requestId: ctx.state.requestId as string | undefined });
  ctx.status = rendered.status;
  ctx.set(rendered.headers);
  ctx.body = rendered.body;
  ctx.type = "application/problem+json";
}

/**
 * Requests Node's HTTP parser refuses before Koa sees them (headers too large, malformed request line) still
 * get a problem+json answer instead of a bare status line; so do the ones Node's server answered itself: an HTTP/1.1
 * request without `Host` (the app's host check answers it, ./boundary/hosts.ts), an `Expect` other than
 * 100-continue (417) and a CONNECT (405: Gatehouse is no proxy; Node closed the socket without a word).
 */
export function answerClientErrors(server: Server): void {
  (server as Server & { requireHostHeader: boolean }).requireHostHeader = false;
  server.on("checkExpectation", answerExpectation);
  server.on("connect", answerConnect);
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || (err as { code?: string }).code === "ECONNRESET") return socket.destroy();
    // Node's own requestTimeout / headersTimeout (a client trickling its headers) is a timeout, not a malformed request.
    const problem =
      err.code === "HPE_HEADER_OVERFLOW"
        ? problemOf("HEADERS_TOO_LARGE", "Request line or headers are too large")
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? problemOf("REQUEST_TIMEOUT", "The request did not arrive in time")
          : problemOf("MALFORMED_REQUEST", "Malformed HTTP request");
    socket.end(rawProblemResponse(problem));
  });
}

/** An `Expect` Gatehouse cannot meet (anything but 100-continue, which Node answers): 417, nothing else read. */
function answerExpectation(req: IncomingMessage, res: ServerResponse): void {
  const problem = problemOf("EXPECTATION_FAILED", "The only expectation this server meets is Expect: 100-continue");
  const rendered = renderProblem(problem, { instance: pathOf(req.url), requestId: decideRequestId(undefined) });
  const body = JSON.stringify(rendered.body);
  res.writeHead(rendered.status, {
    ...rendered.headers,
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  });
  res.end(body);
}

/** CONNECT asks for a tunnel: no resource of Gatehouse takes it (an empty `Allow`, RFC 9110 §10.2.1), then closed. */
function answerConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.on("error", () => {});
  const problem = problemOf("METHOD_NOT_ALLOWED", "CONNECT is not allowed: Gatehouse is not a proxy", {
    headers: { Allow: "" },
  });
  socket.end(rawProblemResponse(problem, { requestId: decideRequestId(undefined) }));
}

/** The path of a request target, for a problem's `instance` (an absolute-form target's path, too). */
function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? "/", "http://gatehouse").pathname;
  } catch {
    return "/";
  }
}
