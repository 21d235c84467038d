import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Canonical } from "./canonical";

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
});
