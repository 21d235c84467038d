// Amounts as an agent may spell them to slip under an auto-approve threshold, sent as raw JSON over HTTP: an amount
// the policy cannot read as a plain finite non-negative number is never ALLOWed under a threshold, and whatever the
// connector receives is what was judged (the largest of several amounts counts). On both store backends.
import { describe, expect, it } from "vitest";
import { gatehouseBackends, gatehouseOn } from "../../../test-support/backends";
import { API_KEY } from "../../../test-support/gatehouse";

const UAPK = "payer-bot";

/** `params` as raw JSON text, so `1e309` and `-0` reach the server as written. */
const body = (params: string, action = "") =>
  `{"uapk_id":"${UAPK}","agent_id":"${UAPK}","action":{"type":"payment","tool":"send"${action},"params":${params}}}`;

// Each must never be ALLOWed under a 100 USD threshold: DENY (unreadable), ESCALATE (above it) or 400.
const HOSTILE: [string, string, string?][] = [
  ["an amount past float range", `{"amount":1e309,"currency":"USD"}`],
  ["a declared amount past float range", `{"currency":"USD"}`, `,"amount":1e309,"currency":"USD"`],
  ["a huge exponent in a string", `{"amount":"1e400","currency":"USD"}`],
  ["thousands separators", `{"amount":"1,000.00","currency":"USD"}`],
  ["full-width digits above the threshold", `{"amount":"\uff11\uff10\uff10\uff10","currency":"USD"}`],
  ["Arabic-Indic digits", `{"amount":"\u0665\u0660\u0660\u0660","currency":"USD"}`],
  ["a negative amount", `{"amount":-5000,"currency":"USD"}`],
  ["a NUL after the digits", `{"amount":"50\\u00005000","currency":"USD"}`],
  ["two amount fields, the larger nested", `{"amount":50,"currency":"USD","payment":{"amount":5000}}`],
  ["an {value, amount} object", `{"amount":{"value":50,"amount":5000},"currency":"USD"}`],
  ["an amount array", `{"amount":[50,5000],"currency":"USD"}`],
  ["a declared amount below, params above", `{"amount":5000,"currency":"USD"}`, `,"amount":50,"currency":"USD"`],
  ["a second currency hidden in an array", `{"amount":50,"currency":["USD","BTC"]}`],
  ["a full-width currency of another code", `{"amount":50,"currency":"\uff22\uff34\uff23"}`],
  ["an amount in a list of amounts", `{"amount":50,"currency":"USD","amounts":[5000]}`],
  ["a list of amounts in objects", `{"amount":50,"currency":"USD","amounts":[{"value":5000}]}`],
  ["another currency in a list of currencies", `{"amount":50,"currency":"USD","currencies":["BTC"]}`],
  // 99.99 KWD is about 325 USD: a currency under a compound key is the amount's as surely as under `currency`.
  [
    "the amount's currency under amount_currency",
    `{"amount":99.99,"amount_currency":"KWD"}`,
    `,"amount":99.99,"currency":"USD"`,
  ],
  ["a payout_currency beside the currency", `{"amount":99.99,"currency":"USD","payout_currency":"KWD"}`],
  ["a targetCurrency in a nested money object", `{"money":{"amount":99.99,"targetCurrency":"KWD"},"currency":"USD"}`],
  // Money under the other words shop and payment APIs use for it, with no `amount` at all.
  ["a price", `{"item":"laptop","price":5000,"currency":"USD"}`],
  ["a unit price in line items", `{"items":[{"sku":"a","unitPrice":"5000.00"}],"currency":"USD"}`],
  ["a fee beside a small amount", `{"amount":50,"platform_fee":5000,"currency":"USD"}`],
  ["a grand total money object", `{"grand_total":{"value":"5000","currency_code":"USD"}}`],
  ["a total in cents", `{"total_cents":500000,"currency":"USD"}`],
  ["a price with a currency sign", `{"price":"$5,000","currency":"USD"}`],
  ["a small unit price times a quantity", `{"items":[{"unit_price":10,"quantity":50}],"currency":"USD"}`],
  ["a quantity past float range", `{"items":[{"price":10,"quantity":1e309}],"currency":"USD"}`],
  ["a quantity of 0 beside the amount", `{"amount":5000,"quantity":0,"currency":"USD"}`],
  ["a fractional quantity beside a total", `{"total":5000,"quantity":0.001,"currency":"USD"}`],
  ["an amount under amt", `{"amt":5000,"currency":"USD"}`],
];

const backends = await gatehouseBackends("hostile amounts");

describe.each(backends)("hostile amounts under a threshold ($name)", (backend) => {
  const gatehouse = gatehouseOn(backend, [
    {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Payer" },
      capabilities: ["payment:send"],
      policy: { amount_threshold: { amount: 100, currency: "USD" } },
      tools: { "payment:send": { connector: { type: "echo" } } },
    },
  ]);

  const post = async (text: string) => {
    const response = await fetch(`${gatehouse().url}/api/v1/gateway/execute`, {
      method: "POST",
      headers: { "x-api-key": API_KEY, "content-type": "application/json" },
      body: text,
    });
    return { status: response.status, body: (await response.json()) as { decision?: string; executed?: boolean } };
  };

  it.each(HOSTILE)("%s is never ALLOWed", async (_name, params, action = "") => {
    const reply = await post(body(params, action));
    if (reply.status === 400) return;
    expect(reply.status).toBe(200);
    expect(reply.body.decision).not.toBe("ALLOW");
    expect(reply.body.executed).toBe(false);
  });

  it("plain spellings of a small amount are ALLOWed and reach the connector as sent", async () => {
    const ids = `{"price":"price_1MoBy5LkdIwHu7ix","price_id":"price_9","total_count":900,"currency":"USD"}`;
    for (const params of [
      `{"amount":-0,"currency":"usd"}`,
      `{"amount":" 0050.00 ","currency":"\uff35\uff33\uff24"}`,
      `{"price":"49.99","shipping_fee":5,"currency":"USD"}`,
      ids,
    ]) {
      const reply = await post(body(params));
      expect(reply.body, params).toMatchObject({ decision: "ALLOW", executed: true });
    }
  });
});
