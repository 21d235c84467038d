// The request id is decided once, at the boundary: the caller's X-Request-Id when it is safe to echo and log,
// else a fresh `req-<uuid>`. The same value goes to the X-Request-Id response header, problem bodies, the
// request log line, handlers (OperationRequest.requestId), audit records and the puruto invocation envelope.
import { randomUUID } from "node:crypto";

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function decideRequestId(incoming: string | undefined): string {
  return incoming && SAFE_ID.test(incoming) ? incoming : `req-${randomUUID()}`;
}
