// Amounts as the upstream will really move them (outside review R23a / R23d): a money object's other representations
// of its amount, declared amount places beside unrelated dotted keys, form objects under payment keys, and money and
// quantity words.
import { describe, expect, it } from "vitest";
import { decide } from "./pipeline";
import { engine, ORG } from "./test-fixtures";
import type { ManifestInput } from "./types";

const wire = (
  policy: NonNullable<ManifestInput["policy"]>,
  tool: Record<string, unknown> = {},
  constraints: ManifestInput["constraints"] = {},
): ManifestInput => ({
  uapk_id: "payments-bot",
  agent: { id: "payments-bot", name: "Payments Bot" },
  capabilities: ["payment:wire"],
  constraints,
  policy,
  tools: { "payment:wire": { connector: { type: "noop" }, ...tool } },
});

async function decideWire(manifest: ManifestInput, params: Record<string, unknown>) {
  const e = await engine();
  e.manifests.register(ORG, manifest);
  const action = { type: "payment", tool: "wire", params: { currency: "EUR", ...params } };
  const d = await decide(ORG, { uapk_id: "payments-bot", agent_id: "payments-bot", action }, e.deps, { now: e.now() });
  const message = d.reasons.map((r) => r.message).join();
  return { decision: d.decision, codes: d.reasons.map((r) => r.code), message };
}

const threshold = { amount_threshold: { amount: 100, currency: "EUR" } };

describe("a money object's representations of its amount must agree", () => {
  it.each<[Record<string, unknown>, RegExp]>([
    // Google's Money reads `units`: 5,000 moves.
    [{ price: { value: 50, units: "5000", currency_code: "EUR" } }, /value 50 and as units 5000,/u],
    [{ amount: { value: 50, units: 5000, currency_code: "EUR" } }, /value 50 and as units 5000,/u],
    [{ amount: { value: "5000", units: 50, nanos: 0 } }, /value 5000 and as units and nanos 50,/u],
    // money-rails reads `cents`, RubyMoney `fractional`: 500000 cents of EUR are 5,000.00.
    [{ amount: { value: 50, cents: 500000 } }, /value 50 and as cents 500000 \(5000\)/u],
    [{ amount: { amount: 50, fractional: 500000 } }, /amount 50 and as fractional 500000 \(5000\)/u],
    [{ payment: { value: 50, cents: 500000 } }, /value 50 and as cents 500000 \(5000\), which disagree/u],
    [{ amount: { value: 50, cents: "5000.5" } }, /beside cents that are no whole number/u],
    [{ amount: { value: 50, units: "lots", nanos: 0 } }, /beside units and nanos that do not read/u],
    // Units of no Money are a quantity: one that is no number leaves the amount unread.
    [{ amount: { value: 50, units: "lots" } }, /multiplied by a quantity at params\.amount\.units that is not/u],
  ])("%j fails closed, naming the disagreement", async (params, why) => {
    const d = await decideWire(wire(threshold), params);
    expect(d.decision).toBe("DENY");
    expect(d.codes).toEqual(["AMOUNT_UNVERIFIABLE"]);
    expect(d.message).toMatch(why);
  });

  it.each<Record<string, unknown>>([
    { price: { value: "50.5", units: "50", nanos: 500000000, currency_code: "EUR" } },
    { amount: { value: "50.00", cents: 5000, currency: "EUR" } },
    { amount: { amount: 50, fractional: "5000" } },
    { payment: { Value: 50, CENTS: 5000 } },
  ])("%j, every representation the same 50 EUR, is allowed", async (params) => {
    expect(await decideWire(wire(threshold), params)).toMatchObject({ decision: "ALLOW", codes: [] });
  });

  it("cents beside a value in an action of two currencies cannot be compared, and fail closed", async () => {
    const d = await decideWire(wire(threshold), { amount: { value: 50, cents: 5000, currency: "USD" } });
    expect(d).toMatchObject({ decision: "DENY", codes: ["AMOUNT_UNVERIFIABLE"] });
    expect(d.message).toMatch(/cannot be compared: minor units \(cents\) of no single currency/u);
  });

  it("the hourly money budget does not count such an object at its value either", async () => {
    const budget = { max_amount_per_hour: { amount: 1000, currency: "EUR" } };
    const d = await decideWire(wire({}, {}, budget), { price: { value: 50, units: "5000", currency_code: "EUR" } });
    expect(d).toMatchObject({ decision: "DENY", codes: ["AMOUNT_UNVERIFIABLE"] });
    expect(d.message).toMatch(/hourly amount limit/u);
  });
});

describe("a declared amount place beside an unrelated dotted key", () => {
  const declaring = () => wire(threshold, { amount_params: ["order.total_price", "amount"] });

  it.each<Record<string, unknown>>([
    { order: { total_price: 60 } },
    // A Shopify order's metadata, a Graph attachment's `@odata.type`: keys with dots that spell no declared place.
    { order: { total_price: 60 }, metadata: { "app.version": "2.1" } },
    { amount: 60, attachments: [{ "@odata.type": "#microsoft.graph.fileAttachment" }] },
    { order: { total_price: 60, "line.items": [{ "sku.id": "a" }] }, "x[0]": 1 },
    { amount: 60, "app.version": "2.1" },
    // Dotted keys at the top that begin the declared path's text but spell no place of it.
    { order: { total_price: 60 }, "order.id": 7, "order.total": { note: "x" } },
  ])("%j: a 60 EUR order under a 100 EUR threshold is counted once and allowed", async (params) => {
    expect(await decideWire(declaring(), params)).toMatchObject({ decision: "ALLOW", codes: [] });
  });

  it.each<Record<string, unknown>>([
    { "order.total_price": 60, order: { total_price: 60 } },
    { order: { total_price: 60 }, "order.total_price": 60, metadata: { "app.version": "2.1" } },
    { order: { total_price: 60, nested: { "a.b": 1 } }, "order.total_price": 60 },
  ])("%j, whose keys spell the declared place twice, is judged at both values", async (params) => {
    expect(await decideWire(declaring(), params)).toMatchObject({ decision: "ESCALATE", codes: ["AMOUNT_THRESHOLD"] });
  });
});

describe("form and select objects under payment and money keys", () => {
  const small = { iban: "DE00", amount: 5 };

  it.each<Record<string, unknown>>([
    { payment: { label: "Credit card", value: "card" } },
    { preferred_payment: { value: "sepa_debit" } },
    { fields: { payment: { type: "dropdown", value: "Invoice" } } },
    { payments: [{ value: "paid", count: 3 }] },
    { money: { value: "" } },
    { payment: { units: "monthly" } },
  ])("%j beside a 5 EUR amount is no money, and allowed", async (params) => {
    expect(await decideWire(wire(threshold), { ...small, ...params })).toMatchObject({ decision: "ALLOW", codes: [] });
  });

  it.each<[Record<string, unknown>, "ESCALATE" | "DENY"]>([
    [{ payment: { label: "Wire", value: 5000 } }, "ESCALATE"],
    [{ payment: { value: "5000" } }, "ESCALATE"],
    [{ payments: [{ value: "paid" }, { value: "5000.00" }] }, "ESCALATE"],
    [{ money: { units: "5000", currency_code: "EUR" } }, "ESCALATE"],
    [{ payment: { value: "5000 EUR" } }, "DENY"],
    // parseFloat and PHP's float cast read 5000: never left unread (a term such as "12 months" is denied too).
    [{ payment: { value: "5000 euros" } }, "DENY"],
    [{ repayment: { frequency: "monthly", value: "12 months" } }, "DENY"],
    [{ payment: { value: "5e3" } }, "DENY"],
    [{ payment: { value: "0x1388" } }, "DENY"],
    [{ money: { cents: "500000" } }, "DENY"],
  ])("%j is money, judged", async (params, decision) => {
    expect((await decideWire(wire(threshold), { ...small, ...params })).decision).toBe(decision);
  });
});

describe("money and quantity words", () => {
  it.each<Record<string, unknown>>([
    { unit_price: 10, QuantityOrdered: 500 }, // Amazon SP-API
    { price: 10, qty_ordered: 500 }, // Magento
    { items: [{ price: 10, qty_ordered: "500", qty_shipped: 500 }] },
    { sum: 5000 },
    { OutSum: "5000.00" }, // Robokassa
    { principal: 5000 },
    { loan: { principal: 5000, currency: "EUR" } },
    { payout: 5000 },
  ])("%j moves more than 100 EUR, and is escalated", async (params) => {
    expect(await decideWire(wire(threshold), params)).toMatchObject({
      decision: "ESCALATE",
      codes: ["AMOUNT_THRESHOLD"],
    });
  });

  it.each<Record<string, unknown>>([
    // Counts that are no quantity ordered, and an order's total quantity (its lines' quantities summed).
    { price: 10, max_quantity: 500 },
    { price: 10, quantity_available: 500 },
    { price: 10, qty_shipped: 500, qty_invoiced: 500 },
    { grand_total: 10, total_qty_ordered: 500 },
    // Without a currency beside them, or not a number: a checksum, a security principal, a flag.
    { amount: 5, file: { name: "a.pdf", sum: 5000 } },
    { amount: 5, checksum: 5000, sha_sum: "9f86d081884c7d65" },
    { amount: 5, principal: "arn:aws:iam::123456789012:user/ops", payout: true },
    { amount: 5, principal_id: 5000, sum_type: 5000, payout_status: 5000 },
  ])("%j moves no more than 100 EUR, and is allowed", async (params) => {
    expect(await decideWire(wire(threshold), params)).toMatchObject({ decision: "ALLOW", codes: [] });
  });

  it("a sum beside a currency that is no plain number is refused, not passed unread", async () => {
    expect(await decideWire(wire(threshold), { sum: "5,000.00" })).toMatchObject({
      decision: "DENY",
      codes: ["AMOUNT_UNVERIFIABLE"],
    });
  });
});

describe("an amount's representations beside it at one level must agree", () => {
  it.each<[Record<string, unknown>, RegExp]>([
    // money-rails and RubyMoney columns beside the amount: the upstream may move 5,000.00, not 50.
    [{ amount: 50, cents: 500000 }, /params\.amount is 50 but params\.cents beside it is 500000 \(5000\)/u],
    [{ amount: 50, fractional: 500000 }, /params\.fractional beside it is 500000 \(5000\)/u],
    [{ amount: 50, amount_cents: 500000 }, /params\.amount_cents beside it is 500000 \(5000\)/u],
    [{ amount: 50, amount_minor: 500000 }, /params\.amount_minor beside it is 500000 \(5000\)/u],
    [{ amount: "50", amountInCents: "500000" }, /params\.amountInCents beside it/u],
    [{ price: 50, price_cents: 500000 }, /params\.price_cents beside it is 500000 \(5000\)/u],
    [{ order: { total_amount: 50, total_amount_minor_units: 500000 } }, /total_amount_minor_units beside it/u],
    [{ order: { amount: 50, subunits: 500000 } }, /params\.order\.subunits beside it/u],
    [{ amount: 50, cents: 5000.5 }, /beside it is 5000\.5, no whole number/u],
  ])("%j fails closed, naming the disagreement", async (params, why) => {
    const d = await decideWire(wire(threshold), params);
    expect(d).toMatchObject({ decision: "DENY", codes: ["AMOUNT_UNVERIFIABLE"] });
    expect(d.message).toMatch(why);
  });

  it.each<Record<string, unknown>>([
    { amount: 60, cents: 6000 },
    { amount: "60.00", amount_cents: "6000" },
    { price: 60, price_cents: 6000 },
    { amount: 60, fractional: 6000, fee: 10 },
  ])("%j, one 60 EUR amount written twice, is counted once and allowed", async (params) => {
    expect(await decideWire(wire(threshold), params)).toMatchObject({ decision: "ALLOW", codes: [] });
  });

  it.each<Record<string, unknown>>([
    { amount: 60, fee_cents: 6000 },
    { amount: 60, transfer: { amount_cents: 6000 } },
  ])("%j: an amount in minor units beside no amount it writes again is one more, added", async (params) => {
    const d = await decideWire(wire(threshold), params);
    expect(d).toMatchObject({ decision: "ESCALATE", codes: ["AMOUNT_THRESHOLD"] });
    expect(d.message).toMatch(/Total of 2 amounts 120 EUR/u);
  });
});

describe("units beside a value are money only in Google's Money", () => {
  it.each<Record<string, unknown>>([
    { price: { value: 10, units: 3 } },
    { line: { price: { value: "10.00", units: 2, currency: "EUR" } } },
    { amount: 5, price: { units: 500 } },
    { amount: 5, payment: { units: 500 } },
  ])("%j: a quantity of units, allowed", async (params) => {
    expect(await decideWire(wire(threshold), params)).toMatchObject({ decision: "ALLOW", codes: [] });
  });

  it("a value times its units is judged: 10 EUR × 50 units", async () => {
    const d = await decideWire(wire(threshold), { price: { value: 10, units: 50 } });
    expect(d).toMatchObject({ decision: "ESCALATE", codes: ["AMOUNT_THRESHOLD"] });
    expect(d.message).toMatch(/Amount 500 EUR/u);
  });

  it.each<Record<string, unknown>>([
    { price: { value: 10, units: 3, currency_code: "EUR" } },
    { price: { value: 10, units: 3, currencyCode: "EUR" } },
    { amount: { value: 10, units: 3, nanos: 0 } },
  ])("%j, Google's Money, still must agree", async (params) => {
    expect(await decideWire(wire(threshold), params)).toMatchObject({
      decision: "DENY",
      codes: ["AMOUNT_UNVERIFIABLE"],
    });
  });
});
