import { describe, expect, it } from "vitest";
import { newInteractionId } from "./interaction-id";

const UUID_V7 = /^int-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("interaction ids", () => {
  it("are `int-` and a UUIDv7 whose first 48 bits are the milliseconds they were made at", () => {
    const at = Date.parse("2026-12-03T17:45:00.123Z");
    const id = newInteractionId(at);
    expect(id).toMatch(UUID_V7);
    expect(Number.parseInt(id.slice(4, 17).replace("-", ""), 16)).toBe(at);
    expect(newInteractionId()).toMatch(UUID_V7);
  });

  it("sort in the order they were made, across milliseconds (what keeps the audit index's inserts at its edge)", () => {
    const start = Date.parse("2026-01-01T00:00:00Z");
    const ids = Array.from({ length: 1000 }, (_, i) => newInteractionId(start + i * 7));
    expect([...ids].sort()).toEqual(ids);
  });

  it("never repeat within one millisecond: the rest is random", () => {
    const at = Date.now();
    const ids = new Set(Array.from({ length: 20_000 }, () => newInteractionId(at)));
    expect(ids.size).toBe(20_000);
  });
});
