// Every country the upstream receives is judged by the jurisdiction lists (review R23a, F2): under a `country…` key
// in any spelling (`country_iso_code`, `countryIsoCode`, `country_code_alpha2`), ISO 20022's `Ctry`, Google's
// PostalAddress `regionCode`, and the country an IBAN (letters 1-2) or a BIC (letters 5-6) is of. And no ordinary
// payload is newly refused: a jurisdiction policy fails closed on a value that is no country, so a region code
// that is no country (`us-east-1`, a state beside its `country_code`) must not be read as one.
import { describe, expect, it } from "vitest";
import { decide } from "./pipeline";
import { engine, ORG } from "./test-fixtures";
import type { ManifestInput } from "./types";

const wire = (policy: NonNullable<ManifestInput["policy"]>): ManifestInput => ({
  uapk_id: "j",
  agent: { id: "j", name: "P" },
  capabilities: ["payment:wire"],
  constraints: {},
  policy,
  tools: { "payment:wire": { connector: { type: "noop" } } },
});

async function decideWire(policy: NonNullable<ManifestInput["policy"]>, params: Record<string, unknown>) {
  const e = await engine();
  e.manifests.register(ORG, wire(policy));
  const request = { uapk_id: "j", agent_id: "j", action: { type: "payment", tool: "wire", params } };
  const d = await decide(ORG, request, e.deps, { now: e.now() });
  return { decision: d.decision, codes: d.reasons.map((r) => r.code) };
}

describe("a blocked country beside a declared harmless one is denied", () => {
  it.each<Record<string, unknown>>([
    { country_iso_code: "KP" },
    { countryIsoCode: "KP" },
    { country_code_alpha2: "KP" },
    { beneficiary_country_iso_3166_1_alpha_2: "KP" },
    { creditor: { postal_address: { Ctry: "KP" } } },
    { Cdtr: { CtryOfRes: "KP" } },
    { address: { regionCode: "KP" } },
    { payee: { name: "Acme", address: { regionCode: "KP", addressLines: ["1 Main St"] } } },
    { place: { regionCode: " kp ", locality: "Pyongyang" } },
    { iban: "IR820540102680020817909002" },
    { beneficiary_iban: "IR82 0540 1026 8002 0817 9090 02" },
    { CdtrAcct: { Id: { IBAN: "IR820540102680020817909002" } } },
    { beneficiary: { bic: "MELIIRTHXXX" } },
    { CdtrAgt: { FinInstnId: { BICFI: "MELIIRTH" } } },
    { swift_code: "meliirthxxx" },
    { bank: { swift: ["DEUTDEFF", "MELIIRTHXXX"] } },
  ])("%j", async (extra) => {
    const d = await decideWire({ jurisdiction_blocklist: ["KP", "IR"] }, { country: "DE", amount: 50, ...extra });
    expect(d).toEqual({ decision: "DENY", codes: ["JURISDICTION_BLOCKED"] });
  });
});

describe("ordinary payloads are judged by their countries alone", () => {
  const github = {
    owner: "acme",
    repo: "api",
    title: "Region outage",
    body: "eu-central-1 is down",
    labels: ["bug", "ops"],
    assignees: ["octocat"],
    milestone: 3,
  };
  const stripe = {
    amount: 2000,
    currency: "eur",
    customer: "cus_123",
    payment_method_types: ["card", "sepa_debit"],
    description: "Order 12",
    statement_descriptor_suffix: "ORDER 12",
    metadata: { order_id: "12", region_code: "eu-central-1" },
    shipping: {
      name: "Ann Example",
      phone: "+4930123456",
      address: { line1: "1 Hauptstr", city: "Berlin", postal_code: "10115", state: "BE", country: "DE" },
    },
  };
  const shopify = {
    order: {
      email: "ann@acme.example",
      currency: "EUR",
      shipping_address: {
        address1: "1 Hauptstr",
        city: "Berlin",
        province: "Berlin",
        province_code: "BE",
        country: "Germany",
        country_code: "DE",
        zip: "10115",
      },
      line_items: [{ title: "Mug", price: "10.00", quantity: 2, sku: "MUG-1" }],
    },
  };
  const aws = { region: "eu-central-1", region_code: "eu-central-1", bucket: "acme-logs", country: "DE" };
  // A geolocation's state beside its country: `BE` (Berlin) is not Belgium, `CA` would not be Canada.
  const geo = { ip: "203.0.113.7", country_code: "DE", region_code: "BE", region_name: "Berlin", city: "Berlin" };
  const sepa = { country: "DE", iban: "DE89 3704 0044 0532 0130 00", bic: "COBADEFFXXX", amount: 5 };
  const google = { address: { regionCode: "DE", postalCode: "10115", locality: "Berlin", addressLines: ["1 Main"] } };
  // A value under an IBAN or BIC key of no such shape names no country (nor one that is no region code).
  const shapeless = { country: "DE", iban: "DE00", bic: "n/a", swift: "MT103", subregion: { region_code: "NY" } };

  it.each<[string, Record<string, unknown>]>([
    ["GitHub", { ...github, country: "DE" }],
    ["Stripe", stripe],
    ["Shopify", shopify],
    ["AWS", aws],
    ["geolocation", geo],
    ["SEPA", sepa],
    ["Google PostalAddress", google],
    ["no IBAN shape", shapeless],
  ])("%s under an allowlist of DE: ALLOW", async (_, params) => {
    expect(await decideWire({ jurisdiction_allowlist: ["DE"] }, params)).toEqual({ decision: "ALLOW", codes: [] });
  });

  it("an IBAN of another country under an allowlist of DE: DENY", async () => {
    const d = await decideWire(
      { jurisdiction_allowlist: ["DE"] },
      { country: "DE", iban: "FR1420041010050500013M02606" },
    );
    expect(d).toEqual({ decision: "DENY", codes: ["JURISDICTION_BLOCKED"] });
  });
});

describe("a country an IBAN under any key is of, numeric country codes, and every country of one object", () => {
  const IR = "IR820540102680020817909002";

  it.each<Record<string, unknown>>([
    { account_number: IR },
    { accountNumber: "IR82 0540 1026 8002 0817 9090 02" },
    { account: IR.toLowerCase() },
    { creditor_account: IR },
    { CdtrAcct: { Id: { Othr: { Id: IR } } } },
    { to: { accounts: ["DE89370400440532013000", IR] } },
    { country_numeric: "408" },
    { country_code: 408 },
    { beneficiary_country: "364" },
    { countryNumericCode: 364 },
    { regionCode: "KP" },
    { address: { country_code: "DE", regionCode: "KP", postalCode: "10115" } },
  ])("%j beside country DE under a blocklist of KP, IR: DENY", async (extra) => {
    const d = await decideWire({ jurisdiction_blocklist: ["KP", "IR"] }, { country: "DE", amount: 50, ...extra });
    expect(d).toEqual({ decision: "DENY", codes: ["JURISDICTION_BLOCKED"] });
  });

  it.each<Record<string, unknown>>([
    // One digit off: no IBAN by its check digits, an account number like any other.
    { account: "IR820540102680020817909003" },
    // Stripe's bank account, a parcel's tracking number, an id shaped like an IBAN of no IBAN length.
    { bank_account: { account_number: "000123456789", routing_number: "110000000", country: "DE" } },
    { tracking_number: "EE123456789CN", reference: "GB82WEST1234569876543" },
    { account: "DE89370400440532013000" },
    { country_code: 276, merchant: { country: "276" } },
  ])("%j under an allowlist of DE: ALLOW", async (extra) => {
    expect(await decideWire({ jurisdiction_allowlist: ["DE"] }, { country: "DE", ...extra })).toEqual({
      decision: "ALLOW",
      codes: [],
    });
  });

  it("an IBAN of another country under an account key, under an allowlist of DE: DENY", async () => {
    const d = await decideWire(
      { jurisdiction_allowlist: ["DE"] },
      { country: "DE", creditor: { account_number: "FR14 2004 1010 0505 0001 3M02 606" } },
    );
    expect(d).toEqual({ decision: "DENY", codes: ["JURISDICTION_BLOCKED"] });
  });
});

describe("an IBAN's country in every printed form the counterparty rule reads it in (outside review R-d F5)", () => {
  it.each<Record<string, unknown>>([
    { iban: "IR82/0540/1051/8002/1273/1130/07" },
    { iban: "IR82_0540_1051_8002_1273_1130_07" },
    { iban: "IR82~0540~1051~8002~1273~1130~07" },
    { iban: "IBAN IR82 0540 1051 8002 1273 1130 07" },
    { iban: "IBAN: IR82-0540-1051-8002-1273-1130-07" },
    { iban: "IR82 0540 1051 8002 1273 1130 07 (Bank Melli)" },
    { beneficiary_iban: "(Bank Melli) IR820540105180021273113007" },
    // Under any other key, a valid IBAN (registry length, mod-97).
    { creditor: { account_number: "IBAN IR82 0540 1026 8002 0817 9090 02" } },
    { creditor: { account_number: "IR82/0540/1026/8002/0817/9090/02 (Bank Melli)" } },
  ])("%j beside country DE, under a blocklist of IR: DENY", async (params) => {
    const d = await decideWire({ jurisdiction_blocklist: ["IR"] }, { country: "DE", ...params });
    expect(d).toEqual({ decision: "DENY", codes: ["JURISDICTION_BLOCKED"] });
  });

  it.each<Record<string, unknown>>([
    { iban: "IBAN DE89 3704 0044 0532 0130 00" },
    { iban: "DE89/3704/0044/0532/0130/00 (Commerzbank)" },
    { account: "IBAN DE89 3704 0044 0532 0130 00" },
  ])("%j under an allowlist of DE: ALLOW", async (params) => {
    expect(await decideWire({ jurisdiction_allowlist: ["DE"] }, { country: "DE", ...params })).toEqual({
      decision: "ALLOW",
      codes: [],
    });
  });
});

describe("a country under destination, ship_to, origin or nation (outside review R-a #6)", () => {
  it.each<Record<string, unknown>>([
    { nation: "KP" },
    { destination: "KP" },
    { ship_to: "PRK" },
    { shipTo: "North Korea" },
    { origin: "KP" },
    { shipment: { origin: "DE", destination: "KP" } },
  ])("%j beside country DE, under a blocklist of KP: DENY", async (params) => {
    const d = await decideWire({ jurisdiction_blocklist: ["KP"] }, { country: "DE", ...params });
    expect(d).toEqual({ decision: "DENY", codes: ["JURISDICTION_BLOCKED"] });
  });

  it.each<Record<string, unknown>>([
    // No country: an account, a channel, a word, a state or cloud region, an address object of DE.
    { destination: "acct_1MoBy5LkdIwHu7ix", origin: "web" },
    { origin: "in", destination: "no" },
    { region: "CA", origin: "api", nation: "n/a" },
    { ship_to: { line1: "Hauptstr. 1", city: "Berlin", country: "DE" } },
    { destination: "Hauptstraße 1, Berlin" },
  ])("%j beside country DE, under an allowlist of DE: ALLOW", async (params) => {
    expect(await decideWire({ jurisdiction_allowlist: ["DE"] }, { country: "DE", ...params })).toEqual({
      decision: "ALLOW",
      codes: [],
    });
  });
});
