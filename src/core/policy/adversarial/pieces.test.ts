// Unit tests of each piece the policy decisions rest on: extraction, normalisation, the pattern grammar and
// jurisdictions. The end-to-end properties are in ./never-allow.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { multiplyDecimals, parseFactAmounts } from "../amounts";
import { extractActionFacts, resolvePath } from "../extract";
import { ALPHA2_CODES, normalizeJurisdiction } from "../jurisdictions";
import { validateManifest } from "../manifest-validation";
import { normalizeRecipients, normalizeValue } from "../normalize";
import {
  allPartsMatch,
  anyPartMatches,
  blockedInAnotherForm,
  blocklistForms,
  matchesPattern,
  normalizePattern,
} from "../pattern";
import { supportBot } from "../test-fixtures";

const ok = (value: string) => ({ ok: true, value });

describe("normalisation", () => {
  it.each([
    ["Boss@EVIL.example", "boss@evil.example"],
    ["  boss@evil.example.. ", "boss@evil.example"],
    ["ＢＯＳＳ＠ＥＶＩＬ．ＥＸＡＭＰＬＥ", "boss@evil.example"],
    ["ann@BÜCHER.de", "ann@xn--bcher-kva.de"],
    ["ACME-GmbH", "acme-gmbh"],
    ["иван@почта.рф", "иван@xn--80a1acny.xn--p1ai"],
  ])("%j → %j", (raw, normal) => {
    expect(normalizeRecipients(raw)).toEqual([ok(normal)]);
  });

  it.each([
    ["a@acme.com,b@evil.io", ["a@acme.com", "b@evil.io"]],
    ["a@acme.com;b@evil.io", ["a@acme.com", "b@evil.io"]],
    ["a@acme.com\nb@evil.io", ["a@acme.com", "b@evil.io"]],
    ["a@acme.com\u0000b@evil.io", ["a@acme.com", "b@evil.io"]],
    ["a@acme.com\uff0cb@evil.io", ["a@acme.com", "b@evil.io"]],
    ['"Ann" <a@acme.com>', ["ann", "a@acme.com"]],
    [" , ; ", []],
  ])("%j hides %j, each checked", (raw, parts) => {
    expect(normalizeRecipients(raw)).toEqual(parts.map(ok));
  });

  it.each([
    ["x@аcme.com", /mixes scripts/u],
    ["раура.сом", /look like Latin/u],
    ["a\u200b@acme.com", /invisible/u],
    ["a\u202e@acme.com", /invisible/u],
    ["x@evil.io@acme.com", /more than one '@'/u],
    ["@acme.com", /not a well-formed address/u],
    ["x@evil.io:25", /not a host name/u],
    ["x@[10.0.0.1]", /not a host name/u],
    ["x@acme.com/evil", /not a host name/u],
    ["mailto:ceo@acme.com", /route/u],
    ["evil%evil.com@acme.com", /route/u],
    ["evil.com!x@acme.com", /route/u],
  ])("%j is refused, not matched", (raw, reason) => {
    const [part] = normalizeRecipients(raw);
    expect(part?.ok).toBe(false);
    expect(part && !part.ok && part.reason).toMatch(reason);
  });

  it("a long run of dots or separators is handled in one pass (no exception, right answer)", () => {
    expect(normalizeRecipients(`${".".repeat(100_000)}x`)).toHaveLength(1);
    expect(normalizeRecipients(`a@acme.com${",".repeat(100_000)}b@evil.io`)).toHaveLength(2);
  });
});

describe("the pattern grammar", () => {
  const m = (raw: string, pattern: string) => {
    const value = normalizeValue(raw);
    const [only] = value.parts;
    return matchesPattern(value.parts.length === 1 && only?.ok ? only.value : value.whole, normalizePattern(pattern));
  };

  it.each([
    ["ann@acme.com", "*@acme.com", true],
    ["ann@ACME.com", "*@Acme.COM.", true],
    ["ann@acme.com.evil.io", "*@acme.com", false],
    ["ann@evil-acme.com", "*@acme.com", false],
    ["ann@sub.acme.com", "*@acme.com", false],
    ["ann@sub.acme.com", "*@*.acme.com", true],
    // A local part is one name, not labels: `*` spans its dots, so `*@evil.io` on a blocklist blocks first.last@.
    ["a.b@acme.com", "*@acme.com", true],
    ["a.b.c@acme.com", "*@acme.com", true],
    ["a.b@acme.com", "*.*@acme.com", true],
    ["a.b@acme.com", "a.?@acme.com", true],
    ["a.b@acme.com", "a@acme.com", false],
    ["a.b@acme.com", "**@acme.com", true],
    ["a.b@sub.acme.com", "*@acme.com", false],
    ["ann@acme.com other.name@acme.com", "*@acme.com *@acme.com", true],
    ["acme-gmbh", "acme-*", true],
    ["acme-gmbh.evil", "acme-*", false],
    ["acme corp", "acme *", true],
    ["ann@xn--bcher-kva.de", "*@bücher.de", true],
    ["ab", "a?", true],
    ["a.", "a?", false],
  ])("%j ~ %j is %s", (value, pattern, expected) => {
    expect(m(value, pattern)).toBe(expected);
  });

  it("`*@acme.com` matches no address outside acme.com, whatever is prepended or appended", () => {
    const text = fc.string({ unit: fc.constantFrom(..."ab.@,; \n\u0000-*ＡＣ＠．"), maxLength: 12 });
    fc.assert(
      fc.property(text, text, text, (before, local, after) => {
        const value = normalizeValue(`${before}${local}@acme.com${after}`);
        for (const part of value.parts)
          if (part.ok && matchesPattern(part.value, normalizePattern("*@acme.com")))
            expect(part.value.split("@")[1]).toBe("acme.com");
        if (allPartsMatch(value, ["*@acme.com"]))
          for (const part of value.parts) expect(part.ok && part.value.endsWith("@acme.com")).toBe(true);
      }),
      { numRuns: 500, seed: 42 },
    );
  });

  it("a compiled (indexed) list matches exactly the values some pattern of it matches on its own", () => {
    const unit = fc.constantFrom(..."ab*?.@ -Ａ");
    const pattern = fc.string({ unit, minLength: 1, maxLength: 8 });
    const value = fc.string({ unit: fc.constantFrom(..."ab.@ -"), minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 6 }), value, (patterns, raw) => {
        const v = normalizeValue(raw);
        const candidates = [v.whole, ...v.parts.flatMap((p) => (p.ok ? [p.value] : []))];
        const alone = candidates.some((c) => patterns.some((p) => matchesPattern(c, normalizePattern(p))));
        expect(anyPartMatches(v, patterns)).toBe(alone);
      }),
      { numRuns: 2_000, seed: 9 },
    );
  });

  it("blocklists hit a value hidden among others; allowlists need every part (or the whole entry)", () => {
    const mixed = normalizeValue("ok@acme.com, boss@evil.io");
    expect(anyPartMatches(mixed, ["*@evil.io"])).toBe(true);
    expect(allPartsMatch(mixed, ["*@acme.com"])).toBe(false);
    expect(allPartsMatch(normalizeValue("ACME  Corp"), ["acme corp"])).toBe(true);
    expect(anyPartMatches(normalizeValue("acme\ncorp"), ["Acme Corp"])).toBe(true);
  });

  it("a blocklist entry also blocks the address with a subaddress tag, which reaches the same mailbox", () => {
    for (const raw of ["ceo+x@acme.com", "CEO+Invoices@ACME.com", "ok@acme.com; ceo+@acme.com"])
      expect(anyPartMatches(normalizeValue(raw), ["ceo@acme.com"]), raw).toBe(true);
    // A tagged entry blocks that tag only; another mailbox, a `+` in the domain or a leading `+` is not that mailbox.
    expect(anyPartMatches(normalizeValue("ceo+y@acme.com"), ["ceo+x@acme.com"])).toBe(false);
    for (const raw of ["ceox@acme.com", "+ceo@acme.com", "ceo@acme+x.com"])
      expect(anyPartMatches(normalizeValue(raw), ["ceo@acme.com"]), raw).toBe(false);
    // An allowlist takes the address as written: the tag is not silently allowed.
    expect(allPartsMatch(normalizeValue("ceo+x@acme.com"), ["ceo@acme.com"])).toBe(false);
  });

  it("a blocked Gmail address is blocked however its local part is dotted, tagged or its domain spelled", () => {
    // As the counterparty check applies a blocklist: the patterns, then the other forms of what they block.
    const blocks = (raw: string, patterns: string[]) =>
      anyPartMatches(normalizeValue(raw), patterns) ||
      blockedInAnotherForm(normalizeValue(raw), blocklistForms(patterns));
    for (const raw of ["j.doe@gmail.com", "J.D.O.E+x@googlemail.com", "jdoe@googlemail.com", "j..doe@GMAIL.com"])
      expect(blocks(raw, ["jdoe@gmail.com"]), raw).toBe(true);
    expect(blocks("jdoe@gmail.com", ["j.doe@googlemail.com"])).toBe(true);
    expect(blocks("a.b+c@googlemail.com", ["*@gmail.com"])).toBe(true);
    // Only Gmail ignores dots: elsewhere j.doe and jdoe are two mailboxes; a tagged entry still blocks that tag only.
    expect(blocks("j.doe@acme.com", ["jdoe@acme.com"])).toBe(false);
    expect(blocks("jdoe+y@gmail.com", ["jdoe+x@gmail.com"])).toBe(false);
    expect(allPartsMatch(normalizeValue("j.doe@gmail.com"), ["jdoe@gmail.com"])).toBe(false);
  });
});

describe("jurisdictions", () => {
  it("the table holds the 249 ISO 3166-1 countries", () => {
    expect(ALPHA2_CODES.size).toBe(249);
  });

  it.each([
    ["de", "DE"],
    ["ＤＥ", "DE"],
    [" deu. ", "DE"],
    ["Germany", "DE"],
    ["north korea", "KP"],
    ["PRK", "KP"],
    ["Türkiye", "TR"],
    ["UK", "GB"],
    ["XK", undefined],
    ["EU", undefined],
    ["Atlantis", undefined],
    ["D E", undefined],
    ["", undefined],
  ])("%j → %s", (raw, code) => {
    expect(normalizeJurisdiction(raw)).toBe(code);
  });
});

describe("extraction: what the connector receives", () => {
  const recipients = (params: Record<string, unknown>, tool = {}) =>
    extractActionFacts({ params }, tool).recipients.map((r) => `${r.source}=${r.value}`);

  it("reads well-known params in any case, arrays, {email}/{address} objects and nesting", () => {
    expect(
      recipients({
        To: "a@x.io",
        CC: ["b@x.io", { Email: "c@x.io", name: "C" }],
        message: { BCC: { address: "d@x.io" } },
        "e-mail": 5,
        Recipients: [{ display: "e@x.io" }],
        subject: "about not@x.io today",
      }),
    ).toEqual([
      "params.To=a@x.io",
      "params.CC[0]=b@x.io",
      "params.CC[1].Email=c@x.io",
      "params.message.BCC.address=d@x.io",
      "params.e-mail=5",
      "params.Recipients[0].display=e@x.io",
    ]);
  });

  it("reads every key a connector may send to, and addresses spelled out in full under any other key", () => {
    const keys = ["cc_address", "bcc_address", "send_to", "email_to", "mail_to", "recipient_address", "rcpt_to"];
    const more = ["envelope_to", "reply_to", "forward_to", "customer_email", "contactEmails", "ownerEmailAddress"];
    for (const key of [...keys, ...more])
      expect(recipients({ [key]: "boss@evil.com" }), key).toEqual([`params.${key}=boss@evil.com`]);
    expect(
      recipients({
        notify: "a@acme.com, x@evil.com",
        owner: "Bob <y@evil.com>",
        lines: "z@evil.com\nw@evil.com",
        link: "mailto:m@evil.com",
        watchers: { "k@evil.com": "Kay" },
        spaced: " s@acme.com  t@evil.com ",
        prose: "s@acme.com t@evil.com and more",
        headers: "To: ok@acme.com\r\nbcc: h@evil.com  i@evil.com\r\nSubject: hi\r\nCC : j@evil.com",
        title: "Re: not@x.io",
      }),
    ).toEqual([
      "params.notify=a@acme.com",
      "params.notify=x@evil.com",
      "params.owner=y@evil.com",
      "params.lines=z@evil.com",
      "params.lines=w@evil.com",
      "params.link=mailto:m@evil.com",
      "params.watchers.k@evil.com (key)=k@evil.com",
      "params.spaced=s@acme.com",
      "params.spaced=t@evil.com",
      "params.headers=ok@acme.com",
      "params.headers=h@evil.com",
      "params.headers=i@evil.com",
      "params.headers=j@evil.com",
    ]);
    // A group in a header line (RFC 5322 §3.4): its members are recipients, each once; the header's name is no group's.
    expect(recipients({ headers: "To: friends: boss@evil.com\r\nCc: a@acme.com b@acme.com" })).toEqual([
      "params.headers=boss@evil.com",
      "params.headers=a@acme.com",
      "params.headers=b@acme.com",
    ]);
    // Beside angle brackets, a display name's address counts too: a lenient parser may send to it.
    expect(
      recipients({ notify: '"y@evil.com" <a@acme.com>', owner: 'Bob <b@acme.com>; "Doe, z@evil.com" <c@acme.com>' }),
    ).toEqual([
      "params.notify=a@acme.com",
      "params.notify=y@evil.com",
      "params.owner=b@acme.com",
      "params.owner=c@acme.com",
      "params.owner=z@evil.com",
    ]);
    // Text that mentions an address among words, a handle, a URL: no recipient.
    expect(
      recipients({ body: "write to x@evil.com for details", mention: "@bob", page: "https://social.example/@bob" }),
    ).toEqual([]);
  });

  it("reads a mail key's string in RFC 5322 list form by its mailboxes, any other string whole", () => {
    expect(
      recipients({
        to: 'Bob <a@acme.example>, "Doe, Jane" <j@acme.example>; c@acme.example',
        cc: ["Ann <a2@x.io>"],
        recipient: { email: "Ann <a3@x.io>", name: "Ann" },
        reply_to: "Eve <e@x.io>,",
      }),
    ).toEqual([
      "params.to=a@acme.example",
      "params.to=j@acme.example",
      "params.to=c@acme.example",
      "params.cc[0]=a2@x.io",
      "params.recipient.email=a3@x.io",
      "params.reply_to=e@x.io",
    ]);
    // Not cleanly a list: judged whole, every word of it (the display name's address too) a recipient.
    const whole = [
      '"a@acme.example" <evil@x.com>',
      "a@acme.example <evil@x.com>",
      "Bob <a@acme.example> evil@x.com",
      "Bob <a@acme.example>\r\nBcc: evil@x.com",
      "Bob <a@acme.example, evil@x.com>",
      '"Bob \\" <evil@x.com>" <a@acme.example>',
      "Bob <a@acme.example>, Eve <evil@x.com",
      "Bob (evil) <a@acme.example>",
      "Team: <a@acme.example>;",
      "Bob\u200b <a@acme.example>",
      "Bob ＜a@acme.example＞",
    ];
    for (const to of whole) expect(recipients({ to }), to).toEqual([`params.to=${to}`]);
    // A payee's string is its name: judged whole.
    expect(recipients({ payee: "Bob <a@acme.example>" })).toEqual(["params.payee=Bob <a@acme.example>"]);
  });

  it("reads the display names beside mailboxes as names (a blocklist's), not recipients", () => {
    const facts = extractActionFacts({
      params: {
        to: 'Bob <a@acme.example>, "Doe, Jane" <j@acme.example>; c@acme.example, <d@acme.example>',
        cc: [{ email: "e@acme.example", name: "Evil Corp", DISPLAY_NAME: "Eve", type: "cc" }],
        toRecipients: [{ emailAddress: { address: "f@acme.example", name: "Fay" } }],
        payee: { email: "g@acme.example", name: "Acme" },
        notify: "Gus <h@acme.example>",
      },
    });
    expect(facts.names.map((n) => `${n.source}=${n.value}`)).toEqual([
      "params.to (display name)=Bob",
      "params.to (display name)=Doe, Jane",
      "params.cc[0].name=Evil Corp",
      "params.cc[0].DISPLAY_NAME=Eve",
      "params.toRecipients[0].emailAddress.name=Fay",
    ]);
    expect(facts.recipients.map((r) => r.value)).not.toContain("Evil Corp");
    expect(facts.recipients.map((r) => r.value)).toContain("Acme");
    // A declared mail place reads them once; with recipient_params_only, only those inside the declared places.
    const tool = { recipient_params: ["cc"], recipient_params_only: true };
    const declared = extractActionFacts({ params: { cc: "Eve <e@acme.example>", to: "Bob <b@acme.example>" } }, tool);
    expect(declared.names.map((n) => `${n.source}=${n.value}`)).toEqual(["params.cc (display name)=Eve"]);
  });

  it("reads a party's name under a key that says whose, or under its role, as a name (a blocklist's)", () => {
    const names = (params: Record<string, unknown>) =>
      extractActionFacts({ params }).names.map((n) => `${n.source}=${n.value}`);
    expect(
      names({
        merchant_name: "M",
        vendorName: "V",
        to_name: "T",
        account_holder_name: "A",
        nameOnAccount: "N",
        payee_legal_name: "P",
        merchant: { id: 7, name: "M2", merchant_name: "M3", description: "prose", logo: { name: "logo.png" } },
        VendorRef: { value: "56", name: "V2" },
        suppliers: ["S", { name: "S2" }, ["nested"]],
        customer: { email: "c@acme.example", name: "C" },
      }),
    ).toEqual([
      "params.merchant_name=M",
      "params.vendorName=V",
      "params.to_name=T",
      "params.account_holder_name=A",
      "params.nameOnAccount=N",
      "params.payee_legal_name=P",
      "params.merchant.name=M2",
      "params.merchant.merchant_name=M3",
      "params.VendorRef.name=V2",
      "params.suppliers[0]=S",
      "params.suppliers[1].name=S2",
      "params.suppliers[2][0]=nested",
      "params.customer.name=C",
    ]);
    // Prose, and the names a party key holds (recipients already), are no names.
    expect(names({ description: "Evil Corp", note: "Evil Corp", memo: "Evil Corp", payee_name: "Evil Corp" })).toEqual(
      [],
    );
    const facts = extractActionFacts({ params: { merchant_name: "Evil Corp", vendor: "Evil Corp" } });
    expect(facts.recipients).toEqual([]);
    // A trading name, the names in a party's parts (its profile, company, accounts; lists read through, not its
    // logo), and statement descriptors (each piece around a `*` too).
    expect(
      names({
        merchant_dba_name: "D",
        merchant: { profile: { name: "P" }, company: { name: "C", tax_id: "1" }, logo: { name: "logo.png" } },
        vendors: [{ accounts: [{ name: "A" }], products: [{ name: "Widget" }] }, [{ name: "L" }]],
        statement_descriptor: "ACME* EVIL CORP",
        purchase_units: [{ soft_descriptor: "S", description: "prose" }],
        billing_descriptor: { name: "B", city: "Berlin" },
      }),
    ).toEqual([
      "params.merchant_dba_name=D",
      "params.merchant.profile.name=P",
      "params.merchant.company=C 1",
      "params.merchant.company.name=C",
      "params.vendors[0].accounts[0].name=A",
      "params.vendors[1][0].name=L",
      "params.statement_descriptor=ACME* EVIL CORP",
      "params.statement_descriptor=ACME",
      "params.statement_descriptor=EVIL CORP",
      "params.purchase_units[0].soft_descriptor=S",
      "params.billing_descriptor.name=B",
    ]);
  });

  it("reads a phone number an SMS goes to: AWS SNS's PhoneNumber, msisdn, a party's phone", () => {
    const keys = ["PhoneNumber", "phone", "customer_phone", "msisdn", "mobile_number", "phone_numbers", "ownerPhone"];
    for (const key of [...keys, "ｐｈｏｎｅ", "Customer-Mobile"])
      expect(recipients({ [key]: "+15550100" }), key).toEqual([`params.${key}=+15550100`]);
    expect(recipients({ phone_type: "mobile", headphones: 2, microphone: "on", iphoneModel: "15" })).toEqual([]);
  });

  it("reads a payee by name or account: payee, beneficiary, creditor, their names, iban and *_iban", () => {
    expect(
      recipients({
        payee: "Evil Corp",
        Beneficiary: { name: "Eve", iban: "DE89 3704" },
        creditorName: "C Ltd",
        recipient_name: "R",
        beneficiary_iban: "GB00",
        IBAN: "FR76",
        beneficiary_country: "KP",
        payee_reference: "invoice 7",
        beneficiaryAccountNumber: "123",
        recipient_id: "u-9",
        payee_account: { routing: "021" },
      }),
    ).toEqual([
      "params.payee=Evil Corp",
      "params.Beneficiary.name=Eve",
      "params.Beneficiary.iban=DE89 3704",
      "params.creditorName=C Ltd",
      "params.recipient_name=R",
      "params.beneficiary_iban=GB00",
      "params.IBAN=FR76",
      "params.beneficiaryAccountNumber=123",
      "params.recipient_id=u-9",
      "params.payee_account.routing=021",
    ]);
    // A postal address beside the name: the name is no display name of a mailbox, and counts; the address (postal
    // members alone) is where the payee is, read as params: its country a jurisdiction, an address in it a recipient.
    const postal = extractActionFacts({
      params: {
        payee: {
          name: "Evil Corp",
          iban: "DE89",
          address: { line1: "1 Main St", line2: null, City: "Berlin", postal_code: 10115, COUNTRY: "DE" },
          billingAddress: { ｓｔｒｅｅｔ: "x@evil.com", zip: "10115" },
        },
      },
    });
    expect(postal.recipients.map((r) => `${r.source}=${r.value}`)).toEqual([
      "params.payee.name=Evil Corp",
      "params.payee.iban=DE89",
      "params.payee.billingAddress.ｓｔｒｅｅｔ=x@evil.com",
    ]);
    expect(postal.jurisdictions.map((j) => `${j.source}=${j.value}`)).toEqual(["params.payee.address.COUNTRY=DE"]);
    // Any other member (a name, a key in another script, an object) keeps the whole object counted; so do postal
    // members under a key that names no address, and a string `address` (a wallet's). A mail recipient's postal
    // address is where it is, as a payee's.
    expect(
      recipients({
        payee: { address: { city: "Berlin", attention: "Eve" } },
        beneficiary: { address: { cіty: "Berlin" }, home: { city: "Bonn" } },
        to: { name: "Ann", address: { city: "Berlin" } },
        destination: { address: "0xEVIL", chain: "ETH" },
        wallet: { address: { line1: "1 Main St" }, id: "w1" },
      }),
    ).toEqual([
      "params.payee.address.city=Berlin",
      "params.payee.address.attention=Eve",
      "params.beneficiary.address.cіty=Berlin",
      "params.beneficiary.home.city=Bonn",
      "params.to.name=Ann",
      "params.destination.address=0xEVIL",
      "params.wallet.id=w1",
    ]);
  });

  it("reads a recipient's postal address as where it is: under a mail key, in a list, in PayPal's and Adyen's members", () => {
    const facts = extractActionFacts({
      params: {
        recipient: {
          name: "Ann",
          address: { line1: "1 Main St", city: "Berlin", postal_code: "10115", country: "DE" },
        },
        to: [{ email: "a@acme.example", address: { line1: "1 Main St", city: "Berlin" } }],
        payee: {
          name: "Acme",
          addresses: [{ line1: "1 Main St", city: "Berlin" }, { Street_Lines: ["2 Side St", "x@evil.example"] }],
          shipping_address: { address_line_1: "1 Main St", admin_area_2: "Berlin", country_code: "DE" },
          billingAddress: {
            street: "Main",
            houseNumberOrName: "1",
            stateOrProvince: "BE",
            postalCode: "1",
            country: "NL",
          },
          recipient: { name: "Bob", RECIPIENT_ADDRESS: { line1: "3 Main St" } },
        },
      },
    });
    expect(facts.recipients.map((r) => `${r.source}=${r.value}`)).toEqual([
      "params.recipient.name=Ann",
      "params.to[0].email=a@acme.example",
      "params.payee.name=Acme",
      "params.payee.recipient.name=Bob",
      "params.payee.addresses[1].Street_Lines[1]=x@evil.example",
    ]);
    expect(facts.jurisdictions.map((j) => j.value)).toEqual(["DE", "DE", "NL"]);
    // Not postal alone, counted: a list with one other element or a hole, a postal object that is the recipient
    // itself (a letter's `to`), lines that are no list of scalars.
    expect(
      recipients({
        payee: { addresses: [{ line1: "1 Main St" }, { line1: "2 Main St", attention: "Eve" }] },
        creditor: { address: [{ city: "Bonn" }, null] },
        to: { line1: "1 Main St" },
        recipient: { address: { lines: [{ name: "Eve" }] } },
      }),
    ).toEqual([
      "params.payee.addresses[0].line1=1 Main St",
      "params.payee.addresses[1].line1=2 Main St",
      "params.payee.addresses[1].attention=Eve",
      "params.creditor.address[0].city=Bonn",
      "params.to.line1=1 Main St",
      "params.recipient.address.lines[0].name=Eve",
    ]);
  });

  it("reads a counterparty by its id or account, and Wise's transfer by its targetAccount", () => {
    expect(
      recipients({
        counterparty_id: "cp_1",
        CounterpartyId: "cp_2",
        counterparty_account: { number: "999" },
        counterpartyAccountNumber: "998",
        targetAccount: 12345,
        quoteUuid: "q-1",
        customerTransactionId: "t-1",
        details: { reference: "inv 7" },
      }),
    ).toEqual([
      "params.counterparty_id=cp_1",
      "params.CounterpartyId=cp_2",
      "params.counterparty_account.number=999",
      "params.counterpartyAccountNumber=998",
      "params.targetAccount=12345",
    ]);
  });

  it("counts each address a string spells out towards the walk's bound: one huge list is no way past it", () => {
    const list = Array.from({ length: 10_001 }, (_, i) => `r${i}@evil.com`).join(",");
    const facts = extractActionFacts({ params: { notify: list } });
    expect(facts.incomplete).toMatch(/more than 10000 addresses/);
    expect(facts.recipients.length).toBeLessThan(10_001);
    expect(extractActionFacts({ params: { notify: "a＠evil.com" } }).recipients.map((r) => r.value)).toEqual([
      "a＠evil.com",
    ]);
  });

  it("reads a currency under any compound key (amount_currency, targetCurrency, currency_iso, ccy)", () => {
    const keys = ["amount_currency", "payout_currency", "targetCurrency", "currency_iso", "settlementCcy", "ccy"];
    for (const key of keys)
      expect(extractActionFacts({ params: { [key]: "KWD" } }).currencies, key).toEqual([
        { source: `params.${key}`, value: "KWD" },
      ]);
    expect(extractActionFacts({ params: { currency_symbol: "$", accuracy: 3 } }).currencies).toEqual([]);
  });

  it("reads any amount compound (amount_due, amount_usd, unit_amount_decimal…) and any country in a role", () => {
    const amountKeys = ["amount_due", "amount_usd", "amountDecimal", "unit_amount_decimal", "amount_in_dollars"];
    for (const key of [...amountKeys, "totalAmountUsd", "amount_major"])
      expect(extractActionFacts({ params: { [key]: 5000 } }).amounts, key).toEqual([
        { source: `params.${key}`, value: 5000 },
      ]);
    expect(extractActionFacts({ params: { amount_currency: "USD", amount_type: "fixed" } }).amounts).toEqual([]);
    const countries = { country_of_destination: "IR", countryOfResidence: "KP", nationality: "SY" };
    expect(extractActionFacts({ params: countries }).jurisdictions.map((j) => j.value)).toEqual(["IR", "KP", "SY"]);
  });

  it("reads money under price, fee, cost and total words, never an id or a count under them", () => {
    const money = ["price", "unitPrice", "TOTAL", "grand_total", "subtotal", "shipping-fee", "costUSD", "price_in_eur"];
    money.push("unitprice", "grandtotal", "totalprice", "price_per_unit", "costPerItem");
    for (const key of money)
      expect(extractActionFacts({ params: { [key]: 5000 } }).amounts, key).toEqual([
        { source: `params.${key}`, value: 5000 },
      ]);
    for (const key of ["totalInCents", "price_usd_cents"])
      expect(extractActionFacts({ params: { [key]: 5000 } }).amounts, key).toEqual([
        { source: `params.${key}`, value: 5000, minor: true },
      ]);
    expect(extractActionFacts({ params: { fees: [1, "2.50", "free"] } }).amounts.map((a) => a.value)).toEqual([
      1,
      "2.50",
    ]);
    const none = {
      coffee: 3,
      discharge: "2024-05-01",
      price_period: 30,
      cost_center: "R&D 42",
      price_id: "price_1MoBy5",
      total_count: 12,
      totalPages: 3,
      feeType: "flat",
      price: "price_1MoBy5LkdIwHu7ix",
      subtotal: "n/a",
    };
    expect(extractActionFacts({ params: none }).amounts).toEqual([]);
    // A `{value}` money object counts; one holding `amount` is read by the amount rule, once.
    expect(extractActionFacts({ params: { price: { value: "9.50", currency: "EUR" } } }).amounts).toEqual([
      { source: "params.price", value: { value: "9.50", currency: "EUR" } },
    ]);
    // `value` in another width or case is the member amounts.ts reads, and one beside `amount` must agree with it.
    const wide = { price: { "\uff36\uff21\uff2c\uff35\uff25": 5000 } };
    expect(extractActionFacts({ params: wide }).amounts.map((a) => a.source)).toEqual(["params.price"]);
    const split = extractActionFacts({ params: { price: { value: 5000, amount: 1 }, currency: "USD" } });
    expect(parseFactAmounts(split).some((a) => !a.ok)).toBe(true);
    expect(extractActionFacts({ params: { price: { amount: 9.5 } } }).amounts).toEqual([
      { source: "params.price.amount", value: 9.5 },
    ]);
  });

  it("multiplies an amount by the quantity of each object around it, exactly", () => {
    const params = { qty: 2, lines: [{ unit_price: "0.1", quantity: 3 }, { price: 5 }] };
    const parsed = parseFactAmounts({ ...extractActionFacts({ params }), currencies: [] });
    expect(parsed.map((p) => p.ok && p.decimal)).toEqual(["0.6", "10"]);
    expect(multiplyDecimals("12.5", "0.04")).toBe("0.5");
    expect(multiplyDecimals("99999999999999999999", "1000")).toBe("99999999999999999999000");
  });

  it("folds a breakdown into the amount it details, never below either; separate amounts add up", () => {
    const usd = (value: string) => ({ currency_code: "USD", value });
    const decimals = (params: Record<string, unknown>) =>
      parseFactAmounts(extractActionFacts({ params })).map((p) => (p.ok ? `${p.source}=${p.decimal}` : p.source));
    // PayPal v2: each purchase unit's amount, at the larger of itself and its breakdown's sum (a discount added).
    const units = [
      { amount: { ...usd("100"), breakdown: { item_total: usd("90"), shipping: usd("10") } } },
      { amount: { ...usd("1"), BREAK_DOWN: { itemTotal: usd("5000"), tax_total: usd("1") } } },
      { amount: { ...usd("50"), breakdown: { item_total: usd("55"), discount: usd("5") } } },
    ];
    expect(decimals({ purchase_units: units })).toEqual([
      "params.purchase_units[0].amount=100",
      "params.purchase_units[1].amount=5001",
      "params.purchase_units[2].amount=60",
    ]);
    // PayPal v1: the details' subtotal breaks the total down; an amount object's own `amount` member is itself.
    const v1 = { amount: { total: "30.11", currency: "USD", details: { subtotal: "30.00", tax: "0.07" } } };
    expect(decimals(v1)).toEqual(["params.amount.total=30.11"]);
    expect(decimals({ amount: { amount: 100, currency: "USD" } })).toEqual(["params.amount=100"]);
    expect(decimals({ amounts: [{ ...usd("5"), details: { fee: 7 } }, usd("5")] })).toEqual([
      "params.amounts[0]=7",
      "params.amounts[1]=5",
    ]);
    // A part that does not read leaves it all unfolded, failing closed; two totals are no one total to fold into.
    expect(decimals({ amount: { ...usd("5"), breakdown: { item_total: { value: JSON.parse("1e309") } } } })).toEqual([
      "params.amount=5",
      "params.amount.breakdown.item_total",
    ]);
    expect(decimals({ amount: { total: "1", TOTAL: "1", currency: "USD", details: { subtotal: "9" } } })).toEqual([
      "params.amount.total=1",
      "params.amount.TOTAL=1",
      "params.amount.details.subtotal=9",
    ]);
    // Money beside a breakdown, not in it, still adds up.
    expect(decimals({ amount: usd("10"), fee: usd("3"), details: { subtotal: "10" } })).toEqual([
      "params.amount=10",
      "params.fee=3",
      "params.details.subtotal=10",
    ]);
  });

  it("folds a PayPal v2 purchase unit's items into its amount, never below either, in one currency only", () => {
    const usd = (value: string) => ({ currency_code: "USD", value });
    const parsed = (params: Record<string, unknown>) => parseFactAmounts(extractActionFacts({ params }));
    const decimals = (params: Record<string, unknown>) =>
      parsed(params).map((p) => (p.ok ? `${p.source}=${p.decimal}` : p.source));
    const item = (quantity: unknown, unit: string, tax?: string) => ({
      name: "T-Shirt",
      sku: "TS-1",
      category: "PHYSICAL_GOODS",
      quantity,
      unit_amount: usd(unit),
      ...(tax === undefined ? {} : { tax: usd(tax) }),
    });
    // An honest order (Orders v2 create): 2 × (50 + 5 tax) + 1 × (100 + 10 tax) + 10 shipping = 230, once.
    const unit = (value: string, items: unknown[], breakdown?: Record<string, unknown>) => ({
      reference_id: "default",
      payee: { email_address: "billing@acme.example" },
      amount: { ...usd(value), ...(breakdown ? { breakdown } : {}) },
      items,
    });
    const honest = unit("230.00", [item("2", "50.00", "5.00"), item("1", "100.00", "10.00")], {
      item_total: usd("200.00"),
      tax_total: usd("20.00"),
      shipping: usd("10.00"),
    });
    expect(decimals({ intent: "CAPTURE", purchase_units: [honest] })).toEqual(["params.purchase_units[0].amount=230"]);
    expect(decimals({ purchase_units: [unit("100", [item("2", "50")])] })).toEqual([
      "params.purchase_units[0].amount=100",
    ]);
    // An amount below its items is judged at the items' sum (tax times the quantity too); units still add up.
    const understated = unit("10", [item("3", "50", "5")], { item_total: usd("10") });
    expect(decimals({ purchase_units: [understated, unit("7", [item("1", "7")])] })).toEqual([
      "params.purchase_units[0].amount=165",
      "params.purchase_units[1].amount=7",
    ]);
    expect(decimals({ purchase_units: [unit("1", [item("1000000000000", "50")])] })).toEqual([
      "params.purchase_units[0].amount=50000000000000",
    ]);
    // A quantity that is not a whole non-negative number is no quantity PayPal charges by: the order fails closed.
    for (const quantity of ["1e3", "-1", "abc", "2.5", "1e309", JSON.parse("1e309"), -1, "", null, "9".repeat(40)]) {
      const amounts = parsed({ purchase_units: [unit("100", [item("1", "1"), item(quantity, "50")])] });
      const bad = amounts.find((a) => !a.ok);
      expect(bad, `quantity ${JSON.stringify(quantity)}`).toMatchObject({
        source: "params.purchase_units[0].items[1].unit_amount",
        why: expect.stringMatching(/quantity at params\.purchase_units\[0\]\.items\[1\]\.quantity/u),
      });
    }
    // So does an unreadable unit amount, and the unit's own amount unreadable is no amount to fold into.
    expect(parsed({ purchase_units: [unit("100", [item("1", "1e309")])] }).some((a) => !a.ok)).toBe(true);
    expect(parsed({ purchase_units: [unit("-5", [item("1", "1")])] }).some((a) => !a.ok)).toBe(true);
    // An item's other money is no PayPal member: it adds up (an upstream of another shape may charge it on top).
    const priced = { ...item("1", "50"), price: usd("30") };
    expect(decimals({ purchase_units: [unit("100", [priced])] })).toEqual([
      "params.purchase_units[0].amount=100",
      "params.purchase_units[0].items[0].price=30",
    ]);
    // Items in another currency than their unit's amount are not added into it: they stay amounts of their own.
    const euros = { name: "x", quantity: "2", unit_amount: { currency_code: "EUR", value: "50" } };
    expect(decimals({ purchase_units: [unit("100", [euros])] })).toEqual([
      "params.purchase_units[0].amount=100",
      "params.purchase_units[0].items[0].unit_amount=100",
    ]);
  });

  it("reads the tool's declared recipient and amount params", () => {
    const facts = extractActionFacts(
      { params: { payee: [{ Mailbox: "p@x.io" }, { mailbox: "q@x.io" }], transfer: { value: "12.5" } }, amount: 3 },
      { recipient_params: ["payee.mailbox"], amount_params: ["transfer.value"] },
    );
    expect(facts.recipients.map((r) => r.value)).toEqual(["p@x.io", "q@x.io"]);
    expect(facts.amounts).toEqual([{ source: "params.transfer.value", value: "12.5" }]);
    expect(resolvePath({ a: [{ b: 1 }, { b: 2 }] }, "a.1.b")).toEqual([{ source: "a[1].b", value: 2 }]);
  });

  it("the declared counterparty, currency and jurisdiction count with the params'", () => {
    const facts = extractActionFacts({
      params: { country: "FR", Currency: "usd" },
      counterparty: "acme",
      jurisdiction: "DE",
      currency: "EUR",
    });
    expect(facts.recipients.map((r) => r.value)).toEqual(["acme"]);
    expect(facts.jurisdictions.map((j) => j.value)).toEqual(["DE", "FR"]);
    expect(facts.currencies.map((c) => c.value)).toEqual(["EUR", "usd"]);
  });

  it("params too deep or too large are reported incomplete (rules then fail closed)", () => {
    let deep: Record<string, unknown> = { to: "a@x.io" };
    for (let i = 0; i < 40; i++) deep = { n: deep };
    expect(extractActionFacts({ params: deep }).incomplete).toMatch(/deeper/u);
    const wide = { items: Array.from({ length: 20_000 }, (_, i) => i) };
    expect(extractActionFacts({ params: wide }).incomplete).toMatch(/more than/u);
    expect(extractActionFacts({ params: { to: "a@x.io" } }).incomplete).toBeUndefined();
  });
});

describe("manifest lists are checked at registration", () => {
  it("refuses non-ISO jurisdictions, patterns holding separators and malformed declared params", () => {
    const problems = validateManifest(
      supportBot({
        policy: { jurisdiction_allowlist: ["DE", "EU", "XX"], counterparty_blocklist: ["a@x.io, b@y.io", "*@evil.io"] },
        tools: {
          "email:send": { connector: { type: "echo" }, recipient_params: ["payee.email", ""] as string[] },
          "crm:read": { connector: { type: "echo" } },
          "crm:update": { connector: { type: "echo" } },
          "crm:delete": { connector: { type: "echo" } },
        },
      }),
    ).map((p) => p.pointer);
    expect(problems.sort()).toEqual(
      [
        "/policy/jurisdiction_allowlist/1",
        "/policy/jurisdiction_allowlist/2",
        "/policy/counterparty_blocklist/0",
        "/tools/email:send/recipient_params/1",
      ].sort(),
    );
  });
});
