import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Canonical } from "./canonical";

// The straightforward implementation canonicalJson had before it was rewritten for speed. Stored hashes and
// signatures were computed with it, so the fast one must produce exactly the same string for every value.
function referenceCanonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((item) => referenceCanonicalJson(item ?? null)).join(",")}]`;
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
        return referenceCanonicalJson((value as { toJSON: () => unknown }).toJSON());
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined && typeof v !== "function")
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonicalJson(v)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
  }
}

// JSON values with full-Unicode keys and strings (surrogate pairs, lone surrogates, control characters), plus
// the non-JSON members records can carry before normalisation: undefined and Dates (toJSON).
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: "binary" }),
    fc.date({ noInvalidDate: true }),
    fc.array(tie("value"), { maxLength: 6 }),
    fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), fc.oneof(tie("value"), fc.constant(undefined)), {
      maxKeys: 6,
    }),
  ),
})).value;

/** `value` with every plain object rebuilt with its keys inserted in UTF-16 order (other values as they are). */
function inKeyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(inKeyOrder);
  if (value === null || typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) ordered[key] = inKeyOrder((value as Record<string, unknown>)[key]);
  return ordered;
}

describe("canonicalJson", () => {
  it("sorts keys recursively and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("serialises numbers the RFC 8785 way (ECMAScript form)", () => {
    expect(canonicalJson([1.0, 1e21, 0.000001, -0, 1e-7])).toBe("[1,1e+21,0.000001,0,1e-7]");
  });

  it("sorts by UTF-16 code units, as RFC 8785 requires", () => {
    // U+20AC (€) sorts before U+1F600 (😀, surrogate pair D83D…) by code units.
    expect(canonicalJson({ "😀": 1, "€": 2, a: 3 })).toBe('{"a":3,"€":2,"😀":1}');
  });

  it("gives equal hashes for objects that differ only in key order", () => {
    expect(sha256Canonical({ a: 1, b: [1, 2] })).toBe(sha256Canonical({ b: [1, 2], a: 1 }));
    expect(sha256Canonical({ a: 1 })).not.toBe(sha256Canonical({ a: "1" }));
  });

  it("refuses values JSON cannot represent instead of hashing something else", () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson(10n)).toThrow();
  });

  it("produces exactly what the reference implementation produced, for any value", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        expect(canonicalJson(value)).toBe(referenceCanonicalJson(value));
      }),
      { numRuns: 2000 },
    );
  });

  it("writes values already in canonical key order exactly as the reference does", () => {
    // The same values with every object rebuilt in sorted key order, as records are built (the usual case).
    fc.assert(
      fc.property(anyValue, (value) => {
        const ordered = inKeyOrder(value);
        expect(canonicalJson(ordered)).toBe(referenceCanonicalJson(ordered));
      }),
      { numRuns: 2000 },
    );
  });

  it("writes exactly what the reference writes where JSON.stringify would write something else", () => {
    // Integer-like keys: Object.keys (and JSON.stringify) list "9" before "10"; UTF-16 order is "10" first.
    expect(canonicalJson({ 9: "a", 10: "b" })).toBe('{"10":"b","9":"a"}');
    // A boxed string: JSON.stringify writes "ab", the canonical form of the object is its indexed members.
    expect(canonicalJson({ s: new String("ab") })).toBe(referenceCanonicalJson({ s: new String("ab") }));
    expect(canonicalJson({ a: [undefined, 1], b: undefined, c: () => 1 })).toBe('{"a":[null,1]}');
    expect(() => canonicalJson({ a: [() => 1] })).toThrow(/function/);
    expect(() => canonicalJson({ a: Symbol("s") })).toThrow(/symbol/);
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow(/non-finite/);
    expect(() => canonicalJson(undefined)).toThrow(/undefined/);
    const withoutPrototype = Object.assign(Object.create(null), { a: 1, b: { d: 1, c: 2 } });
    expect(canonicalJson(withoutPrototype)).toBe('{"a":1,"b":{"c":2,"d":1}}');
  });

  it("round-trips: parsing the canonical form gives back the same JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});
