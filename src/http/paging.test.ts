// Pages end at `limit` items or at the byte budget, whichever comes first, and the cursor reaches every item.
import { describe, expect, it } from "vitest";
import { HttpProblem } from "./problem";
import { countWithinBytes, encodeCursor, pageOf, PAGE_BYTE_BUDGET, timePageOf } from "./paging";

const big = (id: number) => ({ id: `item-${id}`, blob: "x".repeat(300 * 1024) });

describe("paging", () => {
  it("a page of large items stops at the byte budget, and the cursor reaches every item once", () => {
    const items = Array.from({ length: 10 }, (_, i) => big(i));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = pageOf(items, (i) => i.id, { limit: 500, ...(cursor !== undefined ? { cursor } : {}) });
      expect(Buffer.byteLength(JSON.stringify(page.items))).toBeLessThanOrEqual(PAGE_BYTE_BUDGET + 1024);
      expect(page.items.length).toBeLessThan(items.length);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor;
    } while (cursor !== undefined);
    expect(seen).toEqual(items.map((i) => i.id));
  });

  it("one item larger than the budget is still sent (alone), so nothing is unreachable", () => {
    expect(countWithinBytes([{ blob: "x".repeat(PAGE_BYTE_BUDGET * 2) }, { a: 1 }])).toBe(1);
  });

  it("limit bounds the page; the last page has no cursor", () => {
    const items = Array.from({ length: 5 }, (_, i) => ({ id: String(i) }));
    const first = pageOf(items, (i) => i.id, { limit: 3 });
    expect(first.items.map((i) => i.id)).toEqual(["0", "1", "2"]);
    const second = pageOf(items, (i) => i.id, { limit: 3, cursor: first.next_cursor });
    expect(second).toEqual({ items: [{ id: "3" }, { id: "4" }] });
  });

  it("a cursor this API did not issue is a 400 naming the parameter", () => {
    const items = [{ id: "a" }];
    for (const cursor of ["garbage", encodeCursor({ after: "gone" }), encodeCursor({ other: 1 })]) {
      try {
        pageOf(items, (i) => i.id, { cursor });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(HttpProblem);
        expect((err as HttpProblem).status).toBe(400);
      }
    }
  });

  it("a time cursor stays valid when its item goes away, orders ties by id, and refuses another list's cursor", () => {
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString();
    const live = [
      { session_id: "b", created_at: at(1) },
      { session_id: "a", created_at: at(1) },
      { session_id: "c", created_at: at(3) },
      { session_id: "d", created_at: at(0) },
    ];
    const options = { idKey: "session_id", order: "newest-first" } as const;
    const first = timePageOf(live, options, { limit: 2 });
    expect(first.items.map((s) => s.session_id)).toEqual(["c", "a"]);
    // "a" (the cursor's item) ended before the next page was asked for.
    const rest = live.filter((s) => s.session_id !== "a");
    const second = timePageOf(rest, options, { limit: 2, cursor: first.next_cursor });
    expect(second).toEqual({ items: [rest[0], rest[2]] });
    for (const cursor of [
      encodeCursor({ after: "a" }),
      encodeCursor({ created_at: at(1), webhook_id: "a" }),
      encodeCursor({ created_at: "2026-01-01", session_id: "a" }),
      encodeCursor({ created_at: at(1), session_id: "a", extra: "x" }),
    ]) {
      expect(() => timePageOf(live, options, { cursor })).toThrow(HttpProblem);
    }
  });
});
