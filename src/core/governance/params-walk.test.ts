// The engine's bound on params (params-size.ts) and the policy walk's (../policy/extract.ts) count the same values:
// whatever the engine accepts, the walk reads completely (outside review R23d: params of exactly 10,000 values
// passed the engine and were then DENYed as too large to read, the walk counting the params object itself, and the
// addresses spelled in a string counting toward the values bound the engine never sees).
import { describe, expect, it } from "vitest";
import { extractActionFacts, MAX_PARAM_ADDRESSES } from "../policy/extract";
import { decide } from "../policy/pipeline";
import { emailRequest, engine, ORG, supportBot } from "../policy/test-fixtures";
import { countParamsValues, MAX_PARAMS_VALUES, paramsSizeProblem } from "./params-size";

/** Params of `count` values: an amount of 5 EUR, a payee, then numbered filler. */
function paramsOf(count: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const params: Record<string, unknown> = { iban: "DE00", amount: 5, currency: "EUR", ...extra };
  for (let i = Object.keys(params).length; i < count; i++) params[`k${i}`] = i;
  return params;
}

describe("params at the engine's bound", () => {
  it("params of exactly MAX_PARAMS_VALUES values are accepted by the engine and read completely", () => {
    const params = paramsOf(MAX_PARAMS_VALUES);
    expect(countParamsValues(params)).toBe(MAX_PARAMS_VALUES);
    expect(paramsSizeProblem([params])).toBeUndefined();
    const facts = extractActionFacts({ params });
    expect(facts.incomplete).toBeUndefined();
    expect(facts.amounts.map((a) => a.value)).toEqual([5]);
  });

  it("nested params of exactly MAX_PARAMS_VALUES values are read completely too", () => {
    const rows = Array.from({ length: (MAX_PARAMS_VALUES - 4) / 2 }, (_, i) => ({ n: i }));
    const params = { iban: "DE00", amount: 5, currency: "EUR", rows };
    expect(countParamsValues(params)).toBe(MAX_PARAMS_VALUES);
    expect(extractActionFacts({ params }).incomplete).toBeUndefined();
  });

  it("one value more is refused by the engine, and the walk says so too", () => {
    const params = paramsOf(MAX_PARAMS_VALUES + 1);
    expect(paramsSizeProblem([params])).toMatch(/more than 10,000 values/u);
    expect(extractActionFacts({ params }).incomplete).toMatch(/more than 10000 values/u);
  });

  it("a payment of 5 EUR in params the engine accepts is judged, not refused as unreadable", async () => {
    const e = await engine();
    e.manifests.register(
      ORG,
      supportBot({
        capabilities: ["payment:wire"],
        constraints: {},
        policy: { amount_threshold: { amount: 100, currency: "EUR" } },
        tools: { "payment:wire": { connector: { type: "noop" } } },
      }),
    );
    const action = { type: "payment", tool: "wire", params: paramsOf(MAX_PARAMS_VALUES) };
    const d = await decide(ORG, { ...emailRequest(), action }, e.deps, { now: e.now() });
    expect(d.decision).toBe("ALLOW");
  });

  it("addresses spelled in a string count toward a bound of their own, not the values the engine counted", () => {
    const params = paramsOf(MAX_PARAMS_VALUES, { notify: "a@acme.example, b@acme.example" });
    expect(paramsSizeProblem([params])).toBeUndefined();
    const facts = extractActionFacts({ params });
    expect(facts.incomplete).toBeUndefined();
    expect(facts.recipients.map((r) => r.value)).toEqual(["DE00", "a@acme.example", "b@acme.example"]);
  });

  it("a string spelling more addresses than that bound leaves the params incomplete (the rules fail closed)", () => {
    const list = Array.from({ length: MAX_PARAM_ADDRESSES + 1 }, (_, i) => `r${i}@evil.example`).join(",");
    expect(extractActionFacts({ params: { notify: list } }).incomplete).toMatch(/more than 10000 addresses/u);
  });
});
