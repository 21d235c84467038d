// What an audit record stores of an agent's values must not depend on how it is measured: a member is summarised
// exactly when its canonical JSON is over MAX_STORED_VALUE_BYTES or deeper than MAX_STORED_VALUE_DEPTH, the whole
// when the bounded members together are over MAX_STORED_TOTAL_BYTES. boundMembers skips serialising strings short
// enough to fit whatever they hold; these check it against measuring everything.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { boundMembers, MAX_STORED_TOTAL_BYTES, MAX_STORED_VALUE_BYTES, MAX_STORED_VALUE_DEPTH } from "./bound";
import { canonicalJson } from "./canonical";

const bytesOf = (value: unknown) => Buffer.byteLength(canonicalJson(value), "utf8");
const depthOf = (value: unknown): number =>
  value !== null && typeof value === "object" ? 1 + Math.max(0, ...Object.values(value).map(depthOf)) : 0;

/** A member is kept exactly when its measured size and depth are within bounds. */
function expectMembersBoundByMeasure(
  input: Record<string, unknown>,
  stored: Record<string, unknown>,
  truncated: string[],
) {
  for (const [key, member] of Object.entries(input)) {
    const within = bytesOf(member) <= MAX_STORED_VALUE_BYTES && depthOf(member) <= MAX_STORED_VALUE_DEPTH;
    expect(stored[key]).toEqual(within ? member : expect.objectContaining({ truncated: true, bytes: bytesOf(member) }));
    expect(truncated.includes(`params.${key}`)).toBe(!within);
  }
}

// Strings around the member limit made of the characters JSON writes longest (6 bytes: a control character, a lone
// surrogate) and of 1- to 4-byte characters, next to ordinary values.
const unit = fc.constantFrom("a", "\u0001", "\ud800", "\udfff", "é", "€", "😀", '"', "\\");
const nearLimitString = fc
  .tuple(unit, fc.integer({ min: 1, max: MAX_STORED_VALUE_BYTES }))
  .map(([char, n]) => char.repeat(Math.ceil(n / char.length)));
const member = fc.oneof(nearLimitString, fc.jsonValue({ maxDepth: 10 }), fc.string({ unit: "binary" }));

describe("boundMembers", () => {
  it("summarises exactly the members whose canonical JSON is over the limits", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), member, { maxKeys: 6 }), (input) => {
        const { value, truncated } = boundMembers("params", input);
        const stored = value as Record<string, unknown>;
        if ((stored as { truncated?: unknown }).truncated === true && !("truncated" in input)) {
          expect(truncated).toEqual(["params"]);
          return;
        }
        expectMembersBoundByMeasure(input, stored, truncated);
        expect(bytesOf(stored)).toBeLessThanOrEqual(MAX_STORED_TOTAL_BYTES);
      }),
      { numRuns: 400 },
    );
  });

  it("keeps a string of only 6-byte characters at the limit, summarises one character more", () => {
    const atLimit = "\u0001".repeat((MAX_STORED_VALUE_BYTES - 2) / 6);
    const { value, truncated } = boundMembers("params", { atLimit, over: `${atLimit}\u0001` });
    expect((value as Record<string, unknown>).atLimit).toBe(atLimit);
    expect(truncated).toEqual(["params.over"]);
  });

  it("summarises the whole when members within their own limit add up to more than the total", () => {
    const input = Object.fromEntries(
      Array.from({ length: 9 }, (_, i) => [`k${i}`, "x".repeat(MAX_STORED_VALUE_BYTES - 2)]),
    );
    const { value, truncated } = boundMembers("params", input);
    expect(truncated).toEqual(["params"]);
    expect(value).toMatchObject({ truncated: true, bytes: bytesOf(input) });
  });
});
