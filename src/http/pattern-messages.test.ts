// Every character rule the spec declares (a `pattern`, spec/common.tsp) is said in words when a request breaks it:
// a new or changed pattern without its sentence would reach clients as Ajv's "must match pattern \"^[^\\u0000]*$\"".
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { describeErrors } from "./spec";

const patterns = new Set<string>();
JSON.parse(readFileSync("generated/openapi.json", "utf8"), (key, value) => {
  if (key === "pattern" && typeof value === "string") patterns.add(value);
  return value;
});

describe("the spec's patterns", () => {
  it.each([...patterns])("%s is refused with a sentence, not the regular expression", (pattern) => {
    const [problem] = describeErrors("body", [
      { keyword: "pattern", instancePath: "/reason", schemaPath: "#/pattern", params: { pattern }, message: "x" },
    ]);
    expect(problem).toEqual({ pointer: "/body/reason", message: expect.stringMatching(/^must not hold /) });
  });

  it("the spec declares some (else this proves nothing)", () => expect(patterns.size).toBeGreaterThanOrEqual(2));
});

describe("a field name the client chose", () => {
  it("is quoted visibly in the problem (no raw bidi override or CSI), as policy reasons quote it", () => {
    const name = "\u202ex\u009b";
    const shown = "\\u{202e}x\\u{009b}";
    const problems = describeErrors("body", [
      { keyword: "unevaluatedProperties", instancePath: "", schemaPath: "#", params: { unevaluatedProperty: name } },
      { keyword: "not", instancePath: `/${name}`, schemaPath: "#/unevaluatedProperties/not", params: {} },
      { keyword: "type", instancePath: `/action/${name}`, schemaPath: "#/type", params: {}, message: "must be string" },
    ]);
    expect(problems).toEqual([
      { pointer: `/body/${shown}`, message: `unknown field "${shown}" is not allowed` },
      { pointer: `/body/${shown}`, message: `unknown field "${shown}" is not allowed` },
      { pointer: `/body/action/${shown}`, message: "must be string" },
    ]);
  });
});
