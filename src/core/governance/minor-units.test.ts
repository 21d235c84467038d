// Amounts in minor units (`amount_cents`, `amount_minor`, `amountInMinorUnits`): `amount_cents: 5000` is 50.00 USD,
// and was judged as 5000 against the amount threshold and the hourly money budget. They are converted with the
// currency's exponent as the runtime's ICU gives it (USD 2, JPY 0, BHD 3), exactly; a minor-unit amount whose
// currency is unknown, missing or ambiguous, or that is not a whole number of minor units, fails closed.
import { describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { minorUnitDigits } from "../policy/amounts";
import { extractActionFacts } from "../policy/extract";
import { ORG, supportBot } from "../policy/test-fixtures";
import type { ActionRequest, ManifestInput } from "../policy/types";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";

const BOT = "cents-bot";

function bot(
  policy: ManifestInput["policy"],
  constraints?: ManifestInput["constraints"],
  tool: Record<string, unknown> = {},
): ManifestInput {
  return supportBot({
    uapk_id: BOT,
    agent: { id: BOT, name: "Cents" },
    capabilities: ["payment:send"],
    tools: { "payment:send": { connector: { type: "echo" }, ...tool } },
    ...(policy ? { policy } : {}),
    constraints: constraints ?? {},
  });
}

function pay(params: Record<string, unknown>, declared: Partial<ActionRequest["action"]> = {}): ActionRequest {
  return {
    uapk_id: BOT,
    agent_id: BOT,
    action: { type: "payment", tool: "send", params: { to: "shop@example.com", ...params }, ...declared },
  };
}

async function wired(manifest: ManifestInput) {
  const db = await openMigratedDatabase(":memory:");
  const now = () => new Date("2024-12-14T10:30:00Z");
  const engine = createGovernanceEngine({
    db,
    now,
    approvals: createApprovalStore(db, { now }),
    audit: createAuditLog(db, { now }),
  });
  engine.manifests.register(ORG, manifest);
  return engine;
}

const entry = (r: { policy_trace?: { checks: { check: string; details?: unknown }[] } }, check: string) =>
  r.policy_trace?.checks.find((c) => c.check === check);
const threshold = (amount: number, currency: string) => ({ amount_threshold: { amount, currency } });

describe("amounts in minor units", () => {
  it("amount_cents is judged in dollars against the threshold", async () => {
    const engine = await wired(bot(threshold(100, "USD")));
    const small = await engine.evaluate(ORG, pay({ amount_cents: 5000, currency: "USD" }));
    expect(small.decision).toBe("ALLOW");
    expect(entry(small, "amount_threshold")?.details).toMatchObject({ amount: 50, currency: "USD" });
    const large = await engine.evaluate(ORG, pay({ amountInMinorUnits: 10001, currency: "usd" }));
    expect(large).toMatchObject({ decision: "ESCALATE", reasons: [{ code: "AMOUNT_THRESHOLD" }] });
    expect(entry(large, "amount_threshold")?.details).toMatchObject({ amount: 100.01 });
    // Exactly 100.00: not above.
    expect((await engine.evaluate(ORG, pay({ amount_minor: "10000", currency: "ＵＳＤ" }))).decision).toBe("ALLOW");
    // Full-width digits read as the digits they are, in cents too.
    const wide = await engine.evaluate(ORG, pay({ amount_cents: "５０００", currency: "USD" }));
    expect(entry(wide, "amount_threshold")?.details).toMatchObject({ amount: 50 });
  });

  it("uses the currency's own exponent: JPY has none, BHD has three", async () => {
    const yen = await wired(bot(threshold(1000, "JPY")));
    const jpy = await yen.evaluate(ORG, pay({ amount_cents: 5000, currency: "JPY" }));
    expect(jpy).toMatchObject({ decision: "ESCALATE", reasons: [{ code: "AMOUNT_THRESHOLD" }] });
    expect(entry(jpy, "amount_threshold")?.details).toMatchObject({ amount: 5000 });
    const dinar = await wired(bot(threshold(10, "BHD")));
    const bhd = await dinar.evaluate(ORG, pay({ amount_minor: 9999, currency: "BHD" }));
    expect(bhd.decision).toBe("ALLOW");
    expect(entry(bhd, "amount_threshold")?.details).toMatchObject({ amount: 9.999 });
    expect((await dinar.evaluate(ORG, pay({ amount_minor: 10001, currency: "BHD" }))).decision).toBe("ESCALATE");
    expect([minorUnitDigits("USD"), minorUnitDigits("EUR"), minorUnitDigits("JPY"), minorUnitDigits("KWD")]).toEqual([
      2, 2, 0, 3,
    ]);
    expect(minorUnitDigits("XYZ")).toBeUndefined();
    expect(minorUnitDigits("usd")).toBeUndefined();
  });

  it("a declared amount in dollars agrees with the same amount in cents, and disagrees with the cents as dollars", async () => {
    const engine = await wired(bot(threshold(100, "USD")));
    const same = pay({ amount_cents: 5000, currency: "USD" }, { amount: 50, currency: "USD" });
    expect((await engine.evaluate(ORG, same)).decision).toBe("ALLOW");
    const other = pay({ amount_cents: 5000, currency: "USD" }, { amount: 5000, currency: "USD" });
    expect(await engine.evaluate(ORG, other)).toMatchObject({
      decision: "DENY",
      reasons: [{ code: "AMOUNT_UNVERIFIABLE" }],
    });
  });

  it("the hourly money budget counts cents as dollars, exactly", async () => {
    const engine = await wired(bot(undefined, { max_amount_per_hour: { amount: 1000, currency: "USD" } }));
    expect((await engine.execute(ORG, pay({ amount_cents: 60000, currency: "USD" }))).executed).toBe(true);
    const full = await engine.evaluate(ORG, pay({ amount_cents: 40001, currency: "USD" }));
    expect(full).toMatchObject({ decision: "DENY", reasons: [{ code: "BUDGET_EXCEEDED" }] });
    expect(entry(full, "budget_check")?.details).toMatchObject({ current: 600, limit: 1000, amount: 400.01 });
    expect((await engine.execute(ORG, pay({ total_amount_cents: "40000", currency: "USD" }))).executed).toBe(true);
    expect((await engine.evaluate(ORG, pay({ amount_cents: 1, currency: "USD" }))).reasons[0]?.code).toBe(
      "BUDGET_EXCEEDED",
    );
  });

  it("a declared amount_params path ending in cents is in minor units", async () => {
    const engine = await wired(bot(threshold(100, "USD"), undefined, { amount_params: ["payment.price_cents"] }));
    const r = await engine.evaluate(ORG, pay({ payment: { price_cents: 9000 }, currency: "USD" }));
    expect(r.decision).toBe("ALLOW");
    expect(entry(r, "amount_threshold")?.details).toMatchObject({ amount: 90 });
    const facts = extractActionFacts(pay({ amount_cents: 100, amount: 1, amountValue: 1, fee_cents: 1 }).action);
    expect(facts.amounts.map((a) => [a.source, a.minor ?? false])).toEqual([
      ["params.amount", false],
      ["params.amountValue", false],
      ["params.fee_cents", true],
    ]);
    // `amount_cents` beside `amount` writes that amount again: no amount of its own, compared with it.
    expect(facts.amounts[0]?.representations?.map((a) => [a.source, a.minor ?? false])).toEqual([
      ["params.amount_cents", true],
    ]);
  });

  describe("fails closed when the minor units cannot be converted", () => {
    const unverifiable = { decision: "DENY", reasons: [{ code: "AMOUNT_UNVERIFIABLE" }] };
    const cases: [string, Record<string, unknown>, string][] = [
      ["a currency ICU does not know", { amount_cents: 5000, currency: "XYZ" }, "which is no ISO 4217 currency"],
      ["no currency", { amount_cents: 5000 }, "of no currency"],
      ["two currencies", { amount_cents: 5000, currency: "USD", fee: { currency_code: "JPY" } }, "no single"],
      ["a fraction of a cent", { amount_cents: 12.5, currency: "USD" }, "not a whole number of minor units"],
      ["a fraction of a cent as text", { amount_cents: "0.5", currency: "USD" }, "not a whole number"],
      ["an exponent", { amount_cents: "1e3", currency: "USD" }, "is not a non-negative number"],
      ["a negative amount", { amount_cents: -5000, currency: "USD" }, "is not a non-negative number"],
      ["Infinity (1e309)", { amount_cents: JSON.parse("1e309"), currency: "USD" }, "is not a non-negative number"],
    ];
    it.each(cases)("%s", async (_name, params, why) => {
      // The threshold is in the action's currency where it has one, so only the conversion can refuse it.
      const currency = typeof params.currency === "string" ? params.currency : "USD";
      const engine = await wired(bot(threshold(1_000_000, currency)));
      const r = await engine.evaluate(ORG, pay(params));
      expect(r).toMatchObject(unverifiable);
      expect(r.reasons[0]?.message).toContain(why);
    });

    it("the money budget refuses them too, and a declared amount beside one cannot be verified", async () => {
      const engine = await wired(bot(undefined, { max_amount_per_hour: { amount: 1000, currency: "XYZ" } }));
      const r = await engine.evaluate(ORG, pay({ amount_cents: 5000, currency: "XYZ" }));
      expect(r).toMatchObject(unverifiable);
      expect(r.reasons[0]?.message).toContain("no ISO 4217 currency");
      const plain = await wired(bot(undefined));
      const declared = pay({ amount_cents: 5000 }, { amount: 50 });
      expect(await plain.evaluate(ORG, declared)).toMatchObject(unverifiable);
    });
  });

  it("a huge amount in cents is judged exactly, not as Infinity", async () => {
    const engine = await wired(bot(threshold(1000, "USD"), { max_amount_per_hour: { amount: 1000, currency: "USD" } }));
    const huge = "9".repeat(30);
    const r = await engine.evaluate(ORG, pay({ amount_cents: huge, currency: "USD" }));
    expect(r).toMatchObject({ decision: "DENY", reasons: [{ code: "BUDGET_EXCEEDED" }] });
    expect(entry(r, "amount_threshold")).toMatchObject({ result: "escalate", details: { amount: 1e28 } });
    expect(entry(r, "budget_check")?.details).toMatchObject({ amount: 1e28 });
    const big = await engine.evaluate(ORG, pay({ amount_cents: 1e300, currency: "USD" }));
    expect(big.reasons[0]?.code).toBe("BUDGET_EXCEEDED");
  });
});
