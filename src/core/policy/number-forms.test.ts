// A blocked phone number or IBAN is blocked in the forms SMS, WhatsApp and banking APIs still deliver to (review
// R23a, F6): under a URI scheme (`whatsapp:`, `tel:`, `sms:`), grouped with the punctuation libphonenumber drops
// (`.` `/` `~` `_`, the minus sign U+2212), with the `00` international prefix, an IBAN grouped by dots. Addresses,
// domains and IPv4 addresses keep their dots (`evil-corp.com` is not `evilcorp.com`).
import { describe, expect, it } from "vitest";
import { normalizeValue } from "./normalize";
import { anyPartMatches, blockedInAnotherForm, blocklistForms } from "./pattern";
import { decide } from "./pipeline";
import { engine, ORG } from "./test-fixtures";
import type { ManifestInput } from "./types";

const BLOCKED = ["+15550100", "DE89370400440532013000"];

const sms: ManifestInput = {
  uapk_id: "s",
  agent: { id: "s", name: "P" },
  capabilities: ["sms:send"],
  constraints: {},
  policy: { counterparty_blocklist: BLOCKED },
  tools: { "sms:send": { connector: { type: "noop" } } },
};

async function decideSms(params: Record<string, unknown>) {
  const e = await engine();
  e.manifests.register(ORG, sms);
  const request = { uapk_id: "s", agent_id: "s", action: { type: "sms", tool: "send", params } };
  return (await decide(ORG, request, e.deps, { now: e.now() })).decision;
}

// As the counterparty check applies a blocklist: the patterns, then the other forms of what they block.
const blocks = (raw: string, patterns: string[]) =>
  anyPartMatches(normalizeValue(raw), patterns) || blockedInAnotherForm(normalizeValue(raw), blocklistForms(patterns));

describe("a blocked number in the forms its upstream reads", () => {
  it.each<Record<string, unknown>>([
    { to: "whatsapp:+15550100" },
    { to: "tel:+15550100" },
    { to: "sms:+1-555-0100" },
    { phone: "+1.555.0100" },
    { phone: "+1/555/0100" },
    { phone: "+1\u2212555\u22120100" },
    { phone: "+1~555_0100" },
    { phone: "001-555-0100" },
    { to: "whatsapp:001 555 0100" },
    { iban: "DE89.3704.0044.0532.0130.00" },
    { iban: "DE89/3704/0044/0532/0130/00" },
  ])("%j is DENYed", async (params) => {
    expect(await decideSms(params)).toBe("DENY");
  });

  it.each<Record<string, unknown>>([
    { to: "whatsapp:+15550101" },
    { phone: "+1.555.0101" },
    { phone: "01-555-0100" },
    { iban: "DE89.3704.0044.0532.0130.01" },
  ])("another number %j is ALLOWed", async (params) => {
    expect(await decideSms(params)).toBe("ALLOW");
  });

  it("a blocked entry written in those forms blocks the number too", () => {
    expect(blocks("+15550100", ["tel:+1.555.0100"])).toBe(true);
    expect(blocks("+1 555 0100", ["001/555/0100"])).toBe(true);
    expect(blocks("DE89370400440532013000", ["DE89.3704.0044.0532.0130.00"])).toBe(true);
    expect(blocks("+1.555.0199", ["+1555*"])).toBe(true);
  });

  it("addresses, domains and IPv4 addresses match as before", () => {
    expect(blocks("evilcorp.com", ["evil-corp.com"])).toBe(false);
    expect(blocks("evil-corp.com", ["evilcorp.com"])).toBe(false);
    expect(blocks("www.evil.com", ["*.evil.com"])).toBe(true);
    expect(blocks("boss@evil.com", ["*@evil.com"])).toBe(true);
    expect(blocks("boss@evil.com", ["*@evilcom"])).toBe(false);
    expect(blocks("100.0.1", ["10.0.0.1"])).toBe(false);
    expect(blocks("10.0.0.1", ["10.0.0.1"])).toBe(true);
    expect(blocks("de89.example.com", ["de89examplecom"])).toBe(false);
    expect(blocks("EVIL-CORP", ["evilcorp"])).toBe(true);
  });
});
