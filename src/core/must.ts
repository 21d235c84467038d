/**
 * The value, or a thrown error naming the invariant that was broken. For index reads the caller knows succeed
 * (a fixed-size tuple from a regex, the first row of a query that returns at least one), so the `why` documents the
 * invariant and a broken one fails loudly here instead of as `undefined` further on.
 */
export function must<T>(value: T | null | undefined, why: string): T {
  if (value === undefined || value === null) throw new Error(`invariant broken: ${why}`);
  return value;
}
