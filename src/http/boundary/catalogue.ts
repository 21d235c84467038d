// The error catalogue: every machine-readable problem code Gatehouse answers with, and its HTTP status. The codes
// are the spec's `ProblemCode` union (spec/common.tsp): a code missing here, or one the spec does not know, fails
// `tsc`. Titles are not listed: they are the standard reason phrases of node:http's STATUS_CODES.
// In the spirit of Fastify's lib/errors.js: one table a reader can scan, instead of statuses spread over throws.
import { STATUS_CODES } from "node:http";
import type { components } from "../../../generated/api-types";

export type ProblemCode = components["schemas"]["ProblemCode"];
export type ProblemItem = components["schemas"]["ProblemItem"];
export type ProblemBody = components["schemas"]["Problem"];

export const PROBLEM_STATUS: { readonly [C in ProblemCode]: number } = {
  API_KEY_NOT_CONFIGURED: 503,
  API_KEY_REQUIRED: 403,
  APPROVAL_ALREADY_CONSUMED: 409,
  BUDGET_CONTENDED: 409,
  NOT_READY: 503,
  MCP_SESSIONS_FULL: 503,
  COMMANDS_BUSY: 503,
  MCP_SESSION_NOT_FOUND: 404,
  MCP_SESSION_REQUIRED: 400,
  MCP_STREAM_OPEN: 409,
  MANIFEST_INACTIVE: 403,
  CAPABILITY_TOKEN_REFUSED: 403,
  NOT_ACCEPTABLE: 406,
  APPROVAL_BINDING_MISMATCH: 409,
  APPROVAL_DENIED: 409,
  APPROVAL_EXPIRED: 409,
  // 404 when the approval itself is asked for; execute answers 409 (the action conflicts with its approval).
  APPROVAL_NOT_FOUND: 404,
  APPROVAL_NOT_PENDING: 409,
  APPROVAL_PENDING: 409,
  COMMAND_NOT_ALLOWED: 400,
  DATABASE_UNAVAILABLE: 503,
  // An `Expect` other than 100-continue (src/http/errors.ts).
  EXPECTATION_FAILED: 417,
  OUTCOME_NOT_YET_RECORDED: 503,
  FORBIDDEN: 403,
  HEADERS_TOO_LARGE: 431,
  // DNS rebinding (./hosts.ts): the request was sent to, or comes from, a name the gateway does not answer for.
  HOST_NOT_ALLOWED: 421,
  ORIGIN_NOT_ALLOWED: 421,
  IDEMPOTENCY_KEY_IN_FLIGHT: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  // Final: the key's call may have run on a node that died; it is never run again (src/core/idempotency/leases.ts).
  IDEMPOTENCY_OUTCOME_UNKNOWN: 409,
  INTERACTION_NOT_FOUND: 404,
  INTERNAL_ERROR: 500,
  INVALID_JSON: 400,
  INVALID_MANIFEST: 400,
  INVALID_MESSAGE: 400,
  INVALID_TOKEN_REQUEST: 400,
  MALFORMED_REQUEST: 400,
  MANIFEST_CONFLICT: 409,
  MANIFEST_NOT_FOUND: 404,
  MANIFEST_VERSION_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_CONFIGURED: 503,
  NOT_FOUND: 404,
  NOT_IMPLEMENTED: 501,
  OPERATOR_ROLE_REQUIRED: 403,
  ORG_FORBIDDEN: 403,
  PAYLOAD_TOO_LARGE: 413,
  PURUTO_NOT_FOUND: 404,
  REQUEST_TIMEOUT: 408,
  RATE_LIMIT_EXCEEDED: 429,
  REDIS_UNAVAILABLE: 503,
  ROUTE_NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  SELF_APPROVAL: 403,
  SHUTTING_DOWN: 503,
  STORE_CONFLICT: 503,
  CLOCK_SKEW: 503,
  TOKEN_EXPIRED: 401,
  TOKEN_INVALID: 401,
  TOKEN_NOT_FOUND: 404,
  TOO_MANY_SESSIONS: 429,
  // 503 when tokens cannot be verified at all (identity provider unreachable).
  UNAUTHORIZED: 401,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 400,
  WEBHOOK_NOT_FOUND: 404,
  WEBHOOK_TARGET_REFUSED: 400,
  WEBHOOK_LIMIT_REACHED: 409,
};

/** The standard reason phrase of a status ("Not Found"), never a hand-kept table. */
export function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? "Error";
}
