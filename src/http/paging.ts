// Paging of list operations: opaque cursors and a byte budget per page. A page stops at `limit` items or at
// PAGE_BYTE_BUDGET bytes of items, whichever comes first, and then carries `next_cursor`: no single answer grows
// to hundreds of megabytes because the items are large, and every item stays reachable.
import { HttpProblem } from "./problem";

/** Serialized item bytes one page may carry (at least one item is always returned). */
export const PAGE_BYTE_BUDGET = 1024 * 1024;

/** How many of `items`, from the first, fit in `budget` bytes of JSON (at least one, when there is one). */
export function countWithinBytes(items: readonly unknown[], budget = PAGE_BYTE_BUDGET): number {
  let used = 0;
  for (let i = 0; i < items.length; i++) {
    used += Buffer.byteLength(JSON.stringify(items[i]));
    if (used > budget) return Math.max(i, 1);
  }
  return items.length;
}

/** A page of an ordered list and, when more follows, the cursor of its last item. */
export interface Page<T> {
  items: T[];
  next_cursor?: string;
}

function isAfter(value: unknown): value is { after: string } {
  return typeof (value as { after?: unknown } | null)?.after === "string";
}

/**
 * One page of a list the store returns whole and in a stable order (manifests, capability tokens: bounded by what
 * an org registers): from after the cursor's item, at most `limit` items and at most the byte budget.
 */
export function pageOf<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  query: { limit?: number | undefined; cursor?: string | undefined },
  defaultLimit = 100,
): Page<T> {
  let start = 0;
  if (query.cursor !== undefined) {
    const { after } = decodeCursor(query.cursor, isAfter);
    start = items.findIndex((item) => keyOf(item) === after) + 1;
    if (start === 0) decodeCursor("", isAfter); // the item it names is gone: refused like a foreign cursor
  }
  const candidates = items.slice(start, start + (query.limit ?? defaultLimit));
  const page = candidates.slice(0, countWithinBytes(candidates));
  const last = page.at(-1);
  const more = last !== undefined && start + page.length < items.length;
  return { items: page, ...(more ? { next_cursor: encodeCursor({ after: keyOf(last) }) } : {}) };
}

/** The position a page ended at, as the opaque `cursor` the client sends back. */
export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position)).toString("base64url");
}

/** A cursor this API issued, back to its position; anything else is a 400 naming the parameter. */
export function decodeCursor<T>(cursor: string, isPosition: (value: unknown) => value is T): T {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (isPosition(value)) return value;
  } catch {
    // not base64url JSON: the same answer as a well-formed but foreign cursor
  }
  const item = { pointer: "/query/cursor", message: "is not a cursor this API issued" };
  throw new HttpProblem(400, `Request is invalid: ${item.pointer}: ${item.message}`, {
    code: "VALIDATION_FAILED",
    errors: [item],
  });
}
