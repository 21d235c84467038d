// `recipient_params_only` / `amount_params_only` are the operator's word that the upstream reads recipients or amounts
// only at the declared places; the values the tool's url template carries are sent all the same (review R23a), so
// the policy reads them whatever was declared.
import { describe, expect, it } from "vitest";
import { expandUrlTemplate } from "../connectors/url-template";
import { extractActionFacts } from "./extract";

const local = { type: "http" as const, allowed_hosts: ["api.example.com"] };
const found = (facts: { source: string; value: unknown }[]) => facts.map((f) => `${f.source}=${String(f.value)}`);

describe("a url placeholder's value is read under …_only", () => {
  it("a recipient the url sends is judged beside the declared ones", () => {
    const tool = {
      recipient_params: ["payee.email"],
      recipient_params_only: true,
      connector: { ...local, url: "https://api.example.com/send/{to}" },
    };
    const params = { to: "boss@evil.example", payee: { email: "ann@acme.com" }, cc: "eve@evil.example" };
    // `cc` goes in the body, which the operator says the upstream does not read: still dropped.
    expect(found(extractActionFacts({ params }, tool).recipients)).toEqual([
      "params.to=boss@evil.example",
      "params.payee.email=ann@acme.com",
    ]);
  });

  it("a dotted placeholder, and one under any other key, are read as the connector fills them", () => {
    const tool = {
      recipient_params: ["iban"],
      recipient_params_only: true,
      connector: { ...local, url: "https://api.example.com/pay/{iban}?notify={contact.mailbox}&ref={ref}" },
    };
    const params = {
      iban: "DE00",
      contact: { mailbox: "boss@evil.example" },
      ref: "x@evil.example",
      to: "y@z.example",
    };
    const template = tool.connector.url;
    expect(expandUrlTemplate(template, params).used).toEqual(new Set(["iban", "contact.mailbox", "ref"]));
    expect(found(extractActionFacts({ params }, tool).recipients).sort()).toEqual([
      "params.contact.mailbox=boss@evil.example",
      "params.iban=DE00",
      "params.ref=x@evil.example",
    ]);
  });

  it("an amount the url sends is judged under amount_params_only", () => {
    const tool = {
      amount_params: ["order.total_price"],
      amount_params_only: true,
      connector: { ...local, url: "https://api.example.com/charge/{amount}" },
    };
    const params = { amount: 5000, currency: "EUR", order: { total_price: 50, line_items: [{ price: 50 }] } };
    expect(found(extractActionFacts({ params }, tool).amounts).sort()).toEqual([
      "params.amount=5000",
      "params.order.total_price=50",
    ]);
  });

  it("a tool without placeholders (or without a url) is read as before: declared places only", () => {
    const connectors: ({ type: string; url?: string } | undefined)[] = [
      { ...local, url: "https://api.example.com/send" },
      { type: "noop" },
      undefined,
    ];
    for (const connector of connectors) {
      const tool = {
        recipient_params: ["payee.email"],
        recipient_params_only: true,
        amount_params_only: true,
        connector,
      };
      const params = { to: "boss@evil.example", payee: { email: "ann@acme.com" }, amount: 5000 };
      const facts = extractActionFacts({ params }, tool);
      expect(found(facts.recipients)).toEqual(["params.payee.email=ann@acme.com"]);
      expect(facts.amounts).toEqual([]);
    }
  });
});
