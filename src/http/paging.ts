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
 * One page of a list the store returns whole and in a stable order (manifests, purutos: bounded by what an org
 * registers or a machine holds; capability tokens, issued per task, are paged in the store): from after the
 * cursor's item, at most `limit` items and at most the byte budget.
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

/**
 * One page of rows a store read with `limit + 1` (the one extra row tells whether another page follows): at most
 * `limit` items and at most the byte budget, and the cursor of the last item sent when more follows.
 */
export function storePageOf<R, T>(
  rows: readonly R[],
  limit: number,
  toItem: (row: R) => T,
  cursorOf: (item: T) => string,
): Page<T> {
  const candidates = rows.slice(0, limit).map(toItem);
  const items = candidates.slice(0, countWithinBytes(candidates));
  const last = items.at(-1);
  const more = rows.length > items.length && last !== undefined;
  return { items, ...(more ? { next_cursor: cursorOf(last) } : {}) };
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

/**
 * Where a page of a list ordered by creation time then id ended: `{created_at, <idKey>: id}` in the cursor.
 * Unlike `pageOf`'s item id, a position stays valid when its item goes away (a session that ended, a webhook
 * removed between two pages): the next page starts after the place it held.
 */
export interface TimePosition {
  created_at: string;
  id: string;
}

/** Exactly what `Date.toISOString()` writes: the only form the lists store, so string order is time order. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** The ids these lists hand out (`whk-…`, `whd-…`, session ids): nothing a query could misread. */
const POSITION_ID = /^[A-Za-z0-9._:-]{1,256}$/;

/**
 * A time cursor of the list keyed by `idKey`, back to its position. Only the exact shape that list issues is
 * accepted: a cursor of another list (other keys), a tampered time or id, or anything else is the 400 of
 * `decodeCursor`. A position names no org, so another org's cursor can only position within the caller's own list.
 */
export function decodeTimeCursor(cursor: string, idKey: string): TimePosition {
  const isPosition = (value: unknown): value is Record<string, string> => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
    const v = value as Record<string, unknown>;
    return (
      Object.keys(v).length === 2 &&
      typeof v.created_at === "string" &&
      ISO_INSTANT.test(v.created_at) &&
      !Number.isNaN(Date.parse(v.created_at)) &&
      typeof v[idKey] === "string" &&
      POSITION_ID.test(v[idKey] as string)
    );
  };
  const position = decodeCursor(cursor, isPosition);
  return { created_at: position.created_at as string, id: position[idKey] as string };
}

/** The cursor of the item a page ended at, in the form `decodeTimeCursor` takes back. */
export function encodeTimeCursor(created_at: string, idKey: string, id: string): string {
  return encodeCursor({ created_at, [idKey]: id });
}

/**
 * Whether an item comes after `position` in a list ordered by created_at (`newest-first` or `oldest-first`), ties
 * by id ascending. The stores' keyset queries use the same rule.
 */
function isAfterPosition(
  created_at: string,
  id: string,
  position: TimePosition,
  order: "newest-first" | "oldest-first",
): boolean {
  if (created_at === position.created_at) return id > position.id;
  return order === "newest-first" ? created_at < position.created_at : created_at > position.created_at;
}

/**
 * One page of a list held whole in memory (live sessions, webhook subscriptions), ordered by time then id: from
 * after the cursor's position, at most `limit` items and at most the byte budget.
 */
export function timePageOf<T extends { created_at: string }>(
  items: readonly T[],
  options: { idKey: keyof T & string; order: "newest-first" | "oldest-first" },
  query: { limit?: number | undefined; cursor?: string | undefined },
  defaultLimit = 100,
): Page<T> {
  const { idKey, order } = options;
  const idOf = (item: T) => String(item[idKey]);
  const sorted = [...items].sort((a, b) => {
    if (a.created_at !== b.created_at)
      return (a.created_at < b.created_at ? -1 : 1) * (order === "newest-first" ? -1 : 1);
    return idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0;
  });
  // Decoded before anything is read: a bad cursor is refused even when the list is empty.
  const after = query.cursor === undefined ? undefined : decodeTimeCursor(query.cursor, idKey);
  const rest = after ? sorted.filter((item) => isAfterPosition(item.created_at, idOf(item), after, order)) : sorted;
  const candidates = rest.slice(0, query.limit ?? defaultLimit);
  const page = candidates.slice(0, countWithinBytes(candidates));
  const last = page.at(-1);
  const more = last !== undefined && page.length < rest.length;
  return {
    items: page,
    ...(more ? { next_cursor: encodeTimeCursor(last.created_at, idKey, idOf(last)) } : {}),
  };
}
