// A blocked party named in pieces or with its legal form: `{first_name: "John", last_name: "Smith"}` is John Smith,
// and `Evil Corp Ltd` is Evil Corp, to the person who pays them and to a blocklist written without the legal form.
import { describe, expect, it } from "vitest";
import { withoutLegalForms } from "./legal-forms";
import { decide } from "./pipeline";
import { engine, ORG } from "./test-fixtures";
import type { ManifestInput } from "./types";

const payments = (blocklist: string[]): ManifestInput => ({
  uapk_id: "payments-bot",
  agent: { id: "payments-bot", name: "Payments Bot" },
  capabilities: ["payment:send"],
  constraints: {},
  policy: { counterparty_blocklist: blocklist },
  tools: { "payment:send": { connector: { type: "noop" } } },
});

async function decidePayment(blocklist: string[], params: Record<string, unknown>) {
  const e = await engine();
  e.manifests.register(ORG, payments(blocklist));
  // A recipient beside the names (an action naming none is denied whatever its names: fail closed).
  const action = { type: "payment", tool: "send", params: { to: "billing@payments.example", ...params } };
  const request = { uapk_id: "payments-bot", agent_id: "payments-bot", action };
  const d = await decide(ORG, request, e.deps, { now: e.now() });
  return { decision: d.decision, codes: d.reasons.map((r) => r.code), messages: d.reasons.map((r) => r.message) };
}

describe("a person's name split over members is judged whole by a blocklist", () => {
  const johnSmith = ["John Smith"];
  it.each<[string, string[], Record<string, unknown>]>([
    [
      "a payee's first and last name",
      johnSmith,
      { payee: { first_name: "John", last_name: "Smith", iban: "DE89370400440532013000" } },
    ],
    [
      "a mailbox's given name and surname",
      johnSmith,
      { to: { given_name: "John", surname: "Smith", email: "js@x.io" } },
    ],
    ["flat members with a prefix", johnSmith, { recipient_first_name: "John", recipient_last_name: "Smith" }],
    [
      "camelCase with a middle name",
      ["John Q Smith"],
      { beneficiary: { firstName: "John", middleName: "Q", lastName: "Smith" } },
    ],
    ["family name first, as a list writes it", ["Smith John"], { payee: { first_name: "John", last_name: "Smith" } }],
    [
      "a middle name the list does not write",
      johnSmith,
      { payee: { first_name: "John", middle_name: "A", last_name: "Smith" } },
    ],
    ["first and last inside a name object", johnSmith, { payee: { name: { first: "John", last: "Smith" } } }],
    [
      "given and family inside a list of names",
      johnSmith,
      { contact: { names: [{ given: "John", family: "Smith" }] } },
    ],
  ])("%s", async (_, blocklist, params) => {
    expect(await decidePayment(blocklist, params)).toMatchObject({
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      messages: [expect.stringContaining("is on the blocklist")],
    });
  });

  it("names nobody on the list are not denied, and parts of two people are not joined", async () => {
    const params = {
      payee: { first_name: "John", last_name: "Doe" },
      payer: { first_name: "Jane", last_name: "Smith" },
    };
    expect((await decidePayment(["John Smith"], params)).decision).toBe("ALLOW");
  });

  it("first and last outside a name object are no name (a range, a cursor)", async () => {
    const params = { payee: "Acme", page: { first: "John", last: "Smith" } };
    expect((await decidePayment(["John Smith"], params)).decision).toBe("ALLOW");
  });
});

describe("a company's name with its legal form is the company a blocklist lists without it", () => {
  it.each([
    ["merchant_name", { merchant_name: "Evil Corp Ltd" }],
    ["a comma and dots", { merchant_name: "Evil Corp, Inc." }],
    ["two legal forms", { vendor: { name: "EVIL CORP PTY LTD" } }],
    ["a payee string (a recipient)", { payee: "Evil Corp GmbH" }],
  ])("%s", async (_, params) => {
    expect(await decidePayment(["Evil Corp"], params)).toMatchObject({
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
    });
  });

  it("drops only trailing legal forms, never a word of the name", () => {
    expect(withoutLegalForms("Evil Corp Ltd")).toEqual(["Evil Corp", "Evil"]);
    expect(withoutLegalForms("Evil Corp, Inc.")).toEqual(["Evil Corp", "Evil"]);
    expect(withoutLegalForms("Acme Widgets Sp. z o.o.")).toEqual([
      "Acme Widgets Sp. z",
      "Acme Widgets Sp.",
      "Acme Widgets",
    ]);
    expect(withoutLegalForms("Limited Editions")).toEqual([]);
    expect(withoutLegalForms("Ltd")).toEqual([]);
    expect(withoutLegalForms("ops@evil.example")).toEqual([]);
  });

  it("another company whose name only starts like a blocked one is not denied", async () => {
    expect((await decidePayment(["Evil Corp"], { merchant_name: "Evil Corporate Events Ltd" })).decision).toBe("ALLOW");
  });

  it.each([
    "Evil Corp Pte Ltd",
    "Evil Corp OOO",
    "Evil Corp Sdn Bhd",
    "Evil Corp PJSC",
    "EVIL CORP A/S",
    "Evil Corp Oyj",
  ])("%s is Evil Corp", async (merchant_name) => {
    expect((await decidePayment(["Evil Corp"], { merchant_name })).decision).toBe("DENY");
  });
});

describe("a blocklist entry written with its legal form, as sanctions lists write names (review F3)", () => {
  it.each<[string, Record<string, unknown>]>([
    ["the name without it", { merchant_name: "Evil Corp" }],
    ["another legal form", { merchant_name: "Evil Corp GmbH" }],
    ["the form spelled out", { merchant_name: "Evil Corp Limited" }],
    ["a payee", { payee: "EVIL CORP" }],
    ["a statement descriptor", { statement_descriptor: "EVIL CORP ORDER 12" }],
  ])("%s", async (_, params) => {
    expect(await decidePayment(["Evil Corp Ltd"], params)).toMatchObject({
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
    });
    expect((await decidePayment(["EVIL CORP PTE. LTD."], params)).decision).toBe("DENY");
  });

  it("keeps the words of the name: other companies named like it pass", async () => {
    for (const params of [
      { merchant_name: "Evil Corporate Events Ltd" },
      { merchant_name: "Evil Inc" },
      { statement_descriptor: "EVIL CORPORATE EVENTS" },
    ])
      expect((await decidePayment(["Evil Corp Ltd"], params)).decision).toBe("ALLOW");
    expect((await decidePayment(["Acme Ltd"], { payee: "Acme Bank" })).decision).toBe("ALLOW");
  });
});

describe("a payee is read against a blocklist as a merchant's name is (review R23a F1)", () => {
  it.each<[string, Record<string, unknown>]>([
    ["a dotless ı", { payee: "Evıl Corp" }],
    ["a combining grapheme joiner (U+034F, a mark drawn as nothing)", { counterparty: "E\u034fvil Corp" }],
    ["a Cyrillic Е in a beneficiary name", { beneficiary_name: "\u0415vil Corp" }],
    ["a payee object's name", { payee: { name: "Evıl Corp" } }],
  ])("%s", async (_, params) => {
    expect((await decidePayment(["Evil Corp"], params)).decision).toBe("DENY");
  });

  it("an allowlisted mailbox is not refused for the blocklist's reading of names", async () => {
    expect((await decidePayment(["Evil Corp"], { payee: "Good Shop Ltd" })).decision).toBe("ALLOW");
  });
});

describe("a name's words joined by `_` `/` `+` `*` `:` `~` `·` are its words (review F4)", () => {
  it.each<[string, Record<string, unknown>]>([
    ...["Evil_Corp", "evil_corp", "Evil/Corp", "Evil+Corp", "Evil*Corp", "Evil:Corp", "Evil~Corp", "Evil·Corp"].map(
      (payee): [string, Record<string, unknown>] => [payee, { payee }],
    ),
    ["with a legal form", { payee: "EVIL_CORP LTD" }],
    ["a merchant's name", { merchant_name: "EVIL_CORP" }],
    ["a statement descriptor", { statement_descriptor: "EVIL_CORP*ORDER 12" }],
    ["a descriptor with a domain", { statement_descriptor: "EVIL_CORP.COM" }],
  ])("%s", async (_, params) => {
    expect(await decidePayment(["Evil Corp"], params)).toMatchObject({
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
    });
  });

  it("a blocklist entry written with them hits the name written with spaces", async () => {
    expect((await decidePayment(["Evil_Corp"], { payee: "Evil Corp" })).decision).toBe("DENY");
  });

  it("an address keeps its meaning: its `_` and `+` join no words", async () => {
    const params = { to: "evil_corp+news@mail.example", payee: "Good Shop" };
    expect((await decidePayment(["Evil Corp", "evil", "news@mail.example"], params)).decision).toBe("ALLOW");
  });
});
