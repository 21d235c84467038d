// Amounts and currencies under the other words payment, exchange and shop APIs use for them (outside reviews R-a #1,
// R-d F2 and F6): a currency under `coin` / `asset`, money under `sum` / `principal` written with its currency, and a
// line total beside its quantity.
import { describe, expect, it } from "vitest";
import { decide } from "./pipeline";
import { engine, ORG } from "./test-fixtures";
import type { ManifestInput } from "./types";

const threshold = { amount_threshold: { amount: 100, currency: "EUR" } };
const manifest = (policy: NonNullable<ManifestInput["policy"]>): ManifestInput => ({
  uapk_id: "payments-bot",
  agent: { id: "payments-bot", name: "Payments Bot" },
  capabilities: ["payment:send"],
  constraints: {},
  policy,
  tools: { "payment:send": { connector: { type: "noop" } } },
});

async function decideSend(params: Record<string, unknown>, declared: { amount?: number; currency?: string } = {}) {
  const e = await engine();
  e.manifests.register(ORG, manifest(threshold));
  const action = { type: "payment", tool: "send", params, ...declared };
  const d = await decide(ORG, { uapk_id: "payments-bot", agent_id: "payments-bot", action }, e.deps, { now: e.now() });
  return { decision: d.decision, codes: d.reasons.map((r) => r.code), message: d.reasons.map((r) => r.message).join() };
}

const wallet = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh";

describe("a currency under coin, asset, curr, denomination or unit is read", () => {
  it.each<[Record<string, unknown>, { amount?: number; currency?: string }]>([
    // Binance's withdrawal: 50 BTC, declared as 50 EUR.
    [
      { amount: 50, coin: "BTC", address: wallet },
      { amount: 50, currency: "EUR" },
    ],
    [{ amount: 50, coin: "BTC", address: wallet }, { currency: "EUR" }],
    // Kraken's.
    [
      { amount: 50, asset: "XBT", key: "my-wallet" },
      { amount: 50, currency: "EUR" },
    ],
    [{ amount: 50, asset_code: "USDC" }, { currency: "EUR" }],
    [{ amount: 50, quoteAsset: "USDT" }, { currency: "EUR" }],
    [{ amount: 50, coin: "bitcoin" }, { currency: "EUR" }],
    [{ amount: 50, coinSymbol: "eth" }, { currency: "EUR" }],
    [{ amount: 50, curr: "USD" }, { currency: "EUR" }],
    [{ amount: 50, denomination: "GBP" }, { currency: "EUR" }],
    [{ amount: 50, unit: "BTC" }, { currency: "EUR" }],
    [{ value: 1, unit: "ether" }, { currency: "EUR" }],
    // Beside a params currency too: the upstream may read either.
    [{ amount: 50, currency: "EUR", coin: "BTC" }, {}],
    [{ OutSum: 50, coin: "BTC" }, { currency: "EUR" }],
  ])("%j (declared %j) is refused as unverifiable", async (params, declared) => {
    const d = await decideSend(params, declared);
    expect(d).toMatchObject({ decision: "DENY", codes: ["AMOUNT_UNVERIFIABLE"] });
  });

  it.each<Record<string, unknown>>([
    { amount: 50, currency: "EUR" },
    { amount: 50, currency: "EUR", coin: "EUR" },
    { amount: 50, currency: "EUR", asset: "EUR" },
    // An asset id, a unit of measure, a coin type's index, a note's face value: no currency.
    { amount: 50, currency: "EUR", asset: "a-123" },
    { amount: 50, currency: "EUR", asset: "my-logo.png", asset_id: "asset_9f3" },
    { amount: 50, currency: "EUR", unit: "kg" },
    { amount: 50, currency: "EUR", unit: "EA" },
    { amount: 50, currency: "EUR", unit: "cup" },
    { amount: 50, currency: "EUR", coin_type: 0, denomination: 20 },
    { amount: 50, currency: "EUR", business_unit: "USD-ops", unit_id: "BTC" },
  ])("%j is judged as before: ALLOW", async (params) => {
    expect(await decideSend(params)).toMatchObject({ decision: "ALLOW", codes: [] });
  });
});

describe("money under sum, principal or payout beside a currency is read whatever its text", () => {
  it.each<Record<string, unknown>>([
    { OutSum: "5000 EUR", currency: "EUR" },
    { OutSum: "€5000", currency: "EUR" },
    { principal: "5e3", currency: "EUR" },
    { loan: { principal: "EUR 5,000.00", currency: "EUR" } },
    { payout: "5000 euros", payout_currency: "EUR" },
  ])("%j is not allowed, as payment {value: '5000 euros'} is not", async (params) => {
    expect((await decideSend({ currency: "EUR", payment: { value: "5000 euros" } })).decision).not.toBe("ALLOW");
    expect(await decideSend(params)).toMatchObject({ decision: "DENY", codes: ["AMOUNT_UNVERIFIABLE"] });
  });

  it.each<Record<string, unknown>>([
    { amount: 5, currency: "EUR", sha_sum: "9f86d081884c7d65", checksum: "a3f9e0b1c2" },
    { amount: 5, currency: "EUR", principal: "arn:aws:iam::123456789012:user/ops", payout: true },
    { amount: 5, currency: "EUR", principal: "svc-42@acme.example", sum: "sum_1Ab2" },
    { amount: 5, currency: "EUR", payout: "none" },
  ])("%j holds no more money: ALLOW", async (params) => {
    expect(await decideSend(params)).toMatchObject({ decision: "ALLOW", codes: [] });
  });
});

describe("an Amazon SP-API order item's ItemPrice is its line's total, not multiplied by QuantityOrdered", () => {
  const item = (extra: Record<string, unknown>) => ({
    currency: "EUR",
    OrderItems: [{ ASIN: "B00X", QuantityOrdered: 2, ItemPrice: { CurrencyCode: "EUR", Amount: "60.00" }, ...extra }],
  });

  it.each<Record<string, unknown>>([
    item({}),
    item({ ShippingPrice: { CurrencyCode: "EUR", Amount: "10.00" }, ItemTax: { CurrencyCode: "EUR", Amount: "5.00" } }),
  ])("%j moves 60 to 75 EUR: ALLOW under 100", async (params) => {
    expect(await decideSend(params)).toMatchObject({ decision: "ALLOW", codes: [] });
  });

  it.each<Record<string, unknown>>([
    // Still judged above 100: a line total above it, a unit price times QuantityOrdered, a price times quantity.
    item({ ItemPrice: { CurrencyCode: "EUR", Amount: "120.00" } }),
    { currency: "EUR", unit_price: 60, QuantityOrdered: 2 },
    { currency: "EUR", items: [{ price: 60, quantity: 2 }] },
    { currency: "EUR", items: [{ ItemPrice: 60, quantity: 2 }] },
  ])("%j moves more than 100 EUR: ESCALATE", async (params) => {
    expect(await decideSend(params)).toMatchObject({ decision: "ESCALATE", codes: ["AMOUNT_THRESHOLD"] });
  });
});
