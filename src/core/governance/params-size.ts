// How many values a request's action params may hold, at any depth. Every value is walked by the policy's
// extraction and, for each audit record, bounded, canonicalised and copied: an execute whose params held 60,000
// small members (878 KB, within the 1 MiB body limit) kept the event loop busy for 2 to 6 seconds, every other
// request of the node waiting (outside review R21c). Real actions hold tens or hundreds of values.

import { MAX_PARAM_NODES } from "../policy/extract";

/**
 * Values (object members and array elements, at any depth) a request's params may hold in all: the policy walk's own
 * bound, so whatever the boundary accepts the walk reads completely.
 */
export const MAX_PARAMS_VALUES = MAX_PARAM_NODES;

/**
 * How many values `params` hold, counting only up to `limit + 1` (the walk stops there, so a refused value costs no
 * more than the limit). Iterative: the boundary has already bounded the depth, but nothing here relies on it.
 */
export function countParamsValues(params: unknown, limit = MAX_PARAMS_VALUES): number {
  let count = 0;
  const pending: unknown[] = [params];
  while (pending.length > 0 && count <= limit) {
    const value = pending.pop();
    if (value === null || typeof value !== "object") continue;
    const members = Array.isArray(value) ? value : Object.values(value);
    count += members.length;
    for (const member of members) if (member !== null && typeof member === "object") pending.push(member);
  }
  return count;
}

/** Why these params (one action's, or a batch's together) hold too much to be judged and audited; else undefined. */
export function paramsSizeProblem(params: unknown[]): string | undefined {
  let total = 0;
  for (const one of params) {
    total += countParamsValues(one, MAX_PARAMS_VALUES - total);
    if (total > MAX_PARAMS_VALUES) {
      return `params hold more than ${MAX_PARAMS_VALUES.toLocaleString("en")} values (members and elements, at any depth, a batch's actions together)`;
    }
  }
  return undefined;
}

/**
 * An action's params (or a batch's, together) hold more than MAX_PARAMS_VALUES: refused by the engine before anything
 * is decided, reserved or audited, whichever face the call came through. Each face answers it as bad input (REST
 * 400 VALIDATION_FAILED, MCP an isError result, a session's tool call DENY PARAMS_TOO_LARGE).
 */
export class ParamsTooLargeError extends Error {
  readonly code = "PARAMS_TOO_LARGE";
  constructor(
    message: string,
    /** Where in the engine's request the params are: `/action/params` (one action) or `/actions` (a batch). */
    readonly pointer: "/action/params" | "/actions",
  ) {
    super(message);
    this.name = "ParamsTooLargeError";
  }
}

/** `call` refusing (ParamsTooLargeError) a request whose action's params hold too much, before it does anything. */
export function boundingParams<R extends { action: { params?: unknown } }, A extends unknown[], T>(
  call: (orgId: string, request: R, ...rest: A) => Promise<T>,
): (orgId: string, request: R, ...rest: A) => Promise<T> {
  return (orgId, request, ...rest) => {
    const problem = paramsSizeProblem([request.action.params]);
    if (problem) return Promise.reject(new ParamsTooLargeError(problem, "/action/params"));
    return call(orgId, request, ...rest);
  };
}

/** `batch` refusing a batch whose actions' params hold too much together, before any action is decided. */
export function boundingBatchParams<R extends { actions: { params?: unknown }[] }, A extends unknown[], T>(
  batch: (orgId: string, request: R, ...rest: A) => Promise<T>,
): (orgId: string, request: R, ...rest: A) => Promise<T> {
  return (orgId, request, ...rest) => {
    const problem = paramsSizeProblem(request.actions.map((action) => action.params));
    if (problem) return Promise.reject(new ParamsTooLargeError(problem, "/actions"));
    return batch(orgId, request, ...rest);
  };
}
