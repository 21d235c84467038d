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
