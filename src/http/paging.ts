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
