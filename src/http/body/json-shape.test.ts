// The bounds check finds the same first violation, at the same pointer, as the walk that queued every node and
// built every pointer did (kept here as the reference): only the values that can break a bound are queued now.
import { describe, expect, it } from "vitest";
import { jsonShapeViolation, MAX_JSON_DEPTH } from "./json-shape";

const LONE = "is not well-formed Unicode (it holds a lone surrogate, such as \\ud800)";
const wellFormed = (text: string) => !/\p{Surrogate}/u.test(text);

function referenceViolation(value: unknown, maxDepth = MAX_JSON_DEPTH) {
  const escapeKey = (key: string) =>
    key
      .replace(/~/g, "~0")
      .replace(/\//g, "~1")
      .replace(/\p{Surrogate}/gu, (unit) => `\\u${unit.charCodeAt(0).toString(16)}`);
  type Node = { value: unknown; depth: number; pointer: string; key: string };
  const stack: Node[] = [{ value, depth: 0, pointer: "", key: "" }];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    if (!wellFormed(node.key)) return { pointer: node.pointer || "/", message: `the member's name ${LONE}` };
    if (typeof node.value === "string") {
      if (!wellFormed(node.value)) return { pointer: node.pointer || "/", message: `string ${LONE}` };
      continue;
    }
    if (typeof node.value === "number") {
      if (!Number.isFinite(node.value)) {
        return { pointer: node.pointer || "/", message: "number is out of range (not a finite IEEE 754 double)" };
      }
      continue;
    }
    if (node.value === null || typeof node.value !== "object") continue;
    const depth = node.depth + 1;
    if (depth > maxDepth) return { pointer: node.pointer || "/", message: `nesting is deeper than ${maxDepth} levels` };
    if (Array.isArray(node.value)) {
      for (let i = 0; i < node.value.length; i++)
        stack.push({ value: node.value[i], depth, pointer: `${node.pointer}/${i}`, key: String(i) });
    } else {
      for (const [key, member] of Object.entries(node.value)) {
        stack.push({ value: member, depth, pointer: `${node.pointer}/${escapeKey(key)}`, key });
      }
    }
  }
  return null;
}

/** A deterministic pseudo-random JSON value, now and then deep or holding Infinity / NaN. */
function generated(seed: number) {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const keys = ["a", "b/c", "~x", "", "é", "__k", "0", "k\udfff", "😀"];
  const make = (depth: number): unknown => {
    const r = next();
    if (depth > 12 || r < 0.45)
      return ["s", true, null, 1.5, -0, Infinity, -Infinity, Number.NaN, 1e308, "x\ud800", "\udc00😀", "😀"][
        Math.floor(next() * 12)
      ];
    if (r < 0.7) return Array.from({ length: Math.floor(next() * 4) }, () => make(depth + 1));
    return Object.fromEntries(
      Array.from({ length: Math.floor(next() * 4) }, () => [keys[Math.floor(next() * keys.length)], make(depth + 1)]),
    );
  };
  return make(0);
}

describe("JSON body bounds", () => {
  it("report the same first violation and pointer as the reference walk, over generated bodies", () => {
    let violations = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const body = generated(seed);
      const expected = referenceViolation(body, 6);
      if (expected) violations++;
      expect(jsonShapeViolation(body, 6)).toEqual(expected);
    }
    // The generator must exercise both outcomes, or the comparison proves little.
    expect(violations).toBeGreaterThan(300);
    expect(violations).toBeLessThan(2700);
  });

  it("names the root, escaped keys and array indexes as JSON pointers", () => {
    expect(jsonShapeViolation(Infinity)).toEqual({ pointer: "/", message: expect.stringContaining("out of range") });
    expect(jsonShapeViolation({ "a/b": [1, { "~": -Infinity }] })?.pointer).toBe("/a~1b/1/~0");
    let deep: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH + 1; i++) deep = [deep];
    expect(jsonShapeViolation(deep)?.message).toBe(`nesting is deeper than ${MAX_JSON_DEPTH} levels`);
    expect(jsonShapeViolation({ ok: [1, "two", null, { three: 3 }] })).toBeNull();
  });

  it("refuses strings and member names that are not well-formed Unicode (a lone surrogate), not paired ones", () => {
    expect(jsonShapeViolation({ agent_id: "bot\ud800" })).toEqual({ pointer: "/agent_id", message: `string ${LONE}` });
    expect(jsonShapeViolation({ params: { "k\udc00": 1 } })).toEqual({
      pointer: "/params/k\\udc00",
      message: `the member's name ${LONE}`,
    });
    expect(jsonShapeViolation(["\ud83d"])?.pointer).toBe("/0");
    // Named with the surrogate written out, so the refusal is well-formed text itself.
    expect(jsonShapeViolation({ "\udc00": 1, ok: { "a\ud800b😀": 2 } })?.pointer).toMatch(
      /^\/(\\udc00|ok\/a\\ud800b😀)$/,
    );
    expect(jsonShapeViolation({ emoji: "😀 \ud83d\ude00", "é😀": ["\u00e9"] })).toBeNull();
  });
});
