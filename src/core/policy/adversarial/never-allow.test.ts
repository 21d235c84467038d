// Adversarial suite, class 1 of the hostile-input issue: a policy decision means what the connector does.
// For every list rule, no encoding of a blocked value (case, width, look-alike, separators, whitespace,
// trailing dot, nesting in params) yields ALLOW. Each property also has a control: the same rule ALLOWs the
// harmless value, so a property cannot pass by denying everything.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { actionHash, decide } from "../pipeline";
import { emailRequest, engine, ORG, sendTokenAllowing, supportBot } from "../test-fixtures";
import type { ActionRequest, ManifestPolicy } from "../types";
import { disguised, PLACEMENTS, recoded } from "./encodings";

type Setup = Awaited<ReturnType<typeof engine>>;
const RUNS = { numRuns: 150, seed: 20261201 };
const BLOCKED = "boss@evil.example";
const HARMLESS = "ok@acme.com";

async function setup(policy: ManifestPolicy) {
  const e = await engine();
  e.manifests.register(
    ORG,
    supportBot({
      capabilities: ["email:send", "payment:send"],
      constraints: {},
      policy,
      tools: {
        "email:send": { connector: { type: "echo" }, recipient_params: ["payee.mailbox"] },
        "payment:send": { connector: { type: "noop" }, amount_params: ["transfer.value"] },
      },
    }),
  );
  return e;
}

function send(
  placed: { params: Record<string, unknown>; counterparty?: string },
  extra: Partial<ActionRequest> = {},
): ActionRequest {
  return emailRequest({
    action: {
      type: "email",
      tool: "send",
      params: placed.params,
      ...(placed.counterparty !== undefined ? { counterparty: placed.counterparty } : {}),
    },
    ...extra,
  });
}

const decisionOf = async (e: Setup, request: ActionRequest) =>
  (await decide(ORG, request, e.deps, { now: e.now() })).decision;
const placement = fc.constantFrom(...Object.keys(PLACEMENTS));
const place = (name: string, value: string) => (PLACEMENTS[name] ?? PLACEMENTS["params.to"]!)(value);

/** Only ASCII (control characters included) and full-width forms: encodings that must not change a verdict. */
function asciiOrFullWidth(value: string): boolean {
  return [...value].every((ch) => {
    const cp = ch.codePointAt(0) ?? 0;
    return cp <= 0x7f || (cp >= 0xff00 && cp <= 0xffef);
  });
}

describe("counterparty and recipient lists: no encoding of a blocked value is allowed", () => {
  it("blocklist `*@evil.example`", async () => {
    const e = await setup({ counterparty_blocklist: ["*@EVIL.example"] });
    await fc.assert(
      fc.asyncProperty(disguised(BLOCKED, HARMLESS), placement, async (value, where) => {
        expect(await decisionOf(e, send(place(where, value)))).not.toBe("ALLOW");
      }),
      RUNS,
    );
  });

  it("blocklist `*@**.evil.example`: a subdomain at any depth, however disguised, never ALLOWs", async () => {
    const e = await setup({ counterparty_blocklist: ["*@**.EVIL.example"] });
    const labels = fc.array(fc.stringMatching(/^[a-z0-9-]{1,12}$/u), { minLength: 1, maxLength: 6 });
    const deep = labels.chain((l) => disguised(`boss@${l.join(".")}.evil.example`, HARMLESS));
    await fc.assert(
      fc.asyncProperty(deep, placement, async (value, where) => {
        expect(await decisionOf(e, send(place(where, value)))).not.toBe("ALLOW");
      }),
      RUNS,
    );
    // Controls: `**` takes one label or more, so the domain itself and a look-alike parent are not hit.
    expect(await decisionOf(e, send(place("params.to", "boss@evil.example")))).toBe("ALLOW");
    expect(await decisionOf(e, send(place("params.to", "boss@a.notevil.example")))).toBe("ALLOW");
  });

  it("blocklist of a multi-word name (`acme evil corp`), however it is spaced or separated", async () => {
    const e = await setup({ counterparty_blocklist: ["Acme Evil Corp"] });
    const spaced = fc.tuple(
      recoded("acme"),
      fc.constantFrom(" ", "  ", "\t", "\u00a0", ", ", "\n"),
      recoded("evil corp"),
    );
    await fc.assert(
      fc.asyncProperty(spaced, async ([a, sep, b]) => {
        expect(await decisionOf(e, send({ params: {}, counterparty: `${a}${sep}${b}` }))).not.toBe("ALLOW");
      }),
      RUNS,
    );
  });

  it("allowlist `*@acme.com`: a foreign recipient anywhere is refused", async () => {
    const e = await setup({ counterparty_allowlist: ["*@acme.com"] });
    await fc.assert(
      fc.asyncProperty(disguised(BLOCKED, HARMLESS), placement, async (value, where) => {
        expect(await decisionOf(e, send(place(where, value)))).not.toBe("ALLOW");
      }),
      RUNS,
    );
  });

  it("token allowed_recipients `*@acme.com`: a foreign recipient anywhere is refused", async () => {
    const e = await setup({});
    const token = await sendTokenAllowing(e, ["*@acme.com"]);
    await fc.assert(
      fc.asyncProperty(disguised(BLOCKED, HARMLESS), placement, async (value, where) => {
        expect(await decisionOf(e, send(place(where, value), { capability_token: token }))).not.toBe("ALLOW");
      }),
      RUNS,
    );
    // Control: the harmless recipient, in any case or width, passes the same token.
    await fc.assert(
      fc.asyncProperty(
        recoded(HARMLESS).filter((v) => asciiOrFullWidth(v)),
        async (value) => {
          expect(await decisionOf(e, send({ params: { to: value } }, { capability_token: token }))).toBe("ALLOW");
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  });

  it("a mail key's list string: no display name, quote, bracket, comment or separator hides a blocked mailbox", async () => {
    const block = await setup({ counterparty_blocklist: ["*@evil.example"] });
    const allow = await setup({ counterparty_allowlist: ["*@acme.com"] });
    const token = await sendTokenAllowing(allow, ["*@acme.com"]);
    // Mostly plain, so that most lists parse cleanly and the parser, not a refused look-alike, decides.
    const blocked = fc.oneof(fc.constant(BLOCKED), fc.constant("Boss@EVIL.example"), recoded(BLOCKED));
    const allowed = fc.constantFrom(HARMLESS, "x@acme.com");
    const display = fc.constantFrom("", "Bob ", '"Doe, Jane" ', '"Ann; <x>" ', "Ann Müller ");
    const mailbox = (address: fc.Arbitrary<string>) =>
      fc.oneof(
        address,
        fc.tuple(display, address).map(([name, a]) => `${name}<${a}>`),
      );
    // The blocked mailbox as the address, as a display name (quoted or not) of an allowed one, or after it.
    const hostile = fc.oneof(
      mailbox(blocked),
      fc.tuple(blocked, allowed).map(([b, a]) => `"${b}" <${a}>`),
      fc.tuple(blocked, allowed).map(([b, a]) => `${b} <${a}>`),
      fc.tuple(allowed, blocked).map(([a, b]) => `Bob <${a}> ${b}`),
    );
    // Noise at an element's edge: an unclosed quote or bracket, a comment, a group, a quoted-pair, a header line.
    const noise = fc.constantFrom("", "", "", '"', "<", ">", "(", ")", ":", "\\", "\r\nBcc:", "\u200b", " x");
    const edged = (element: fc.Arbitrary<string>) =>
      fc.tuple(noise, element, noise).map(([before, text, after]) => `${before}${text}${after}`);
    const listed = fc
      .tuple(
        fc.array(edged(mailbox(allowed)), { maxLength: 3 }),
        edged(hostile),
        fc.nat(),
        fc.constantFrom(",", ";", ", "),
      )
      .map(([others, evil, at, sep]) => [...others.slice(0, at % 4), evil, ...others.slice(at % 4)].join(sep));
    await fc.assert(
      fc.asyncProperty(listed, async (to) => {
        expect(await decisionOf(block, send({ params: { to } })), to).not.toBe("ALLOW");
        expect(await decisionOf(allow, send({ params: { to } })), to).not.toBe("ALLOW");
        expect(await decisionOf(allow, send({ params: { to } }, { capability_token: token })), to).not.toBe("ALLOW");
      }),
      RUNS,
    );
    // Control: a clean list of allowed mailboxes under display names passes both.
    const clean = `"Doe, Jane" <${HARMLESS}>; Bob <x@acme.com>, y@acme.com`;
    expect(await decisionOf(allow, send({ params: { to: clean } }))).toBe("ALLOW");
    expect(await decisionOf(block, send({ params: { to: clean } }))).toBe("ALLOW");
  });

  it("controls: the harmless recipient in case/width variants is allowed by the allowlist and not hit by the blocklist", async () => {
    const allow = await setup({ counterparty_allowlist: ["*@acme.com"] });
    const block = await setup({ counterparty_blocklist: ["*@evil.example"] });
    const plain = recoded(HARMLESS).filter((v) => asciiOrFullWidth(v));
    await fc.assert(
      fc.asyncProperty(plain, placement, async (value, where) => {
        expect(await decisionOf(allow, send(place(where, value)))).toBe("ALLOW");
        expect(await decisionOf(block, send(place(where, value)))).toBe("ALLOW");
      }),
      { numRuns: 60, seed: 11 },
    );
  });
});

describe("jurisdiction rules: no spelling of a blocked country is allowed", () => {
  const KP = ["kp", "KP", "Kp", "ＫＰ", " kp. ", "PRK", "prk", "North Korea", "NORTH  KOREA", "north-korea"];
  const where = fc.constantFrom<(j: string) => Partial<ActionRequest["action"]>>(
    (j) => ({ jurisdiction: j }),
    (j) => ({ params: { country: j } }),
    (j) => ({ params: { Country_Code: j } }),
    (j) => ({ params: { shipping: { address: { COUNTRY: j } } } }),
    (j) => ({ jurisdiction: "DE", params: { beneficiary: { jurisdiction: j } } }),
  );
  const wire = (patch: Partial<ActionRequest["action"]>) =>
    emailRequest({
      action: {
        type: "payment",
        tool: "send",
        params: {},
        ...patch,
        ...(patch.params ? { params: patch.params } : {}),
      },
    });

  it("blocklist KP", async () => {
    const e = await setup({ jurisdiction_blocklist: ["KP"] });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...KP), where, async (j, put) => {
        expect(await decisionOf(e, wire(put(j)))).not.toBe("ALLOW");
      }),
      RUNS,
    );
    expect(await decisionOf(e, wire({ jurisdiction: "Germany" }))).toBe("ALLOW");
  });

  it("allowlist DE: another, unknown or missing jurisdiction fails closed", async () => {
    const e = await setup({ jurisdiction_allowlist: ["DE"] });
    const others = fc.constantFrom("FR", "XK", "EU", "ZZ", "Atlantis", "D E", "DE,FR", "{}", "");
    await fc.assert(
      fc.asyncProperty(others, where, async (j, put) => {
        expect(await decisionOf(e, wire(put(j)))).not.toBe("ALLOW");
      }),
      RUNS,
    );
    expect(await decisionOf(e, wire({ jurisdiction: "ｄｅ" }))).toBe("ALLOW");
    expect(await decisionOf(e, wire({ params: { country: "Germany" } }))).toBe("ALLOW");
  });
});

describe("amount threshold: the amount the connector receives is the one judged", () => {
  const policy: ManifestPolicy = { amount_threshold: { amount: 1000, currency: "EUR" } };
  const pay = (params: Record<string, unknown>, declared?: { amount: number; currency: string }) =>
    emailRequest({ action: { type: "payment", tool: "send", params, ...(declared ?? {}) } });

  it("an executed amount above the threshold, wherever it sits, never ALLOWs", async () => {
    const e = await setup(policy);
    const amount = fc.oneof(fc.double({ min: 1000.01, max: 1e12, noNaN: true }), fc.integer({ min: 1001, max: 1e9 }));
    const encodings = fc.constantFrom<(a: number) => Record<string, unknown>>(
      (a) => ({ amount: a, currency: "EUR" }),
      (a) => ({ AMOUNT: String(a), Currency: "eur" }),
      (a) => ({ payment: { Amount: { value: a, currency: "EUR" } }, currency: "EUR" }),
      (a) => ({ transfer: { value: a }, currency: "EUR" }),
      // A small amount beside the real one under a key a case-insensitive upstream reads as the same member.
      (a) => ({ amount: { value: 50, VALUE: a }, currency: "EUR" }),
      (a) => ({ amount: { amount: 50, Ａｍｏｕｎｔ: String(a) }, currency: "EUR" }),
      (a) => ({ transfer: { value: 50, Value: a }, currency: "EUR" }),
      (a) => ({ amount: `${a}`.replace(/\d/gu, (d) => String.fromCharCode(0xff10 + Number(d))), currency: "EUR" }),
    );
    await fc.assert(
      fc.asyncProperty(amount, encodings, fc.boolean(), async (a, encode, declareSmall) => {
        const request = pay(encode(a), declareSmall ? { amount: 10, currency: "EUR" } : undefined);
        expect(await decisionOf(e, request)).not.toBe("ALLOW");
      }),
      RUNS,
    );
    expect(await decisionOf(e, pay({ amount: 999, currency: "EUR" }, { amount: 999, currency: "EUR" }))).toBe("ALLOW");
  });

  it("a currency the connector receives in a list or an object is judged too, never skipped", async () => {
    const e = await setup(policy);
    for (const currency of [["BTC"], { code: "BTC" }, [{ code: "BTC" }], ["EUR", "BTC"]]) {
      const declared = await decide(ORG, pay({ amount: 50, currency }, { amount: 50, currency: "EUR" }), e.deps, {
        now: e.now(),
      });
      expect(declared.decision, JSON.stringify(currency)).toBe("DENY");
      expect(declared.reasons[0]).toMatchObject({ code: "AMOUNT_UNVERIFIABLE" });
      expect(declared.reasons[0]?.message).toMatch(/params\.currency/u);
      expect(await decisionOf(e, pay({ amount: 50, currency }))).toBe("DENY");
    }
    // Control: the threshold's currency, written as a one-element list, is the same currency.
    expect(await decisionOf(e, pay({ amount: 50, currency: ["eur"] }, { amount: 50, currency: "EUR" }))).toBe("ALLOW");
  });

  it("an amount object whose value members disagree is unverifiable, whichever one an upstream would read", async () => {
    const e = await setup(policy);
    for (const amount of [
      { value: 50, VALUE: 5000 },
      { Value: 5000, value: 50 },
      { value: 50, amount: 5000 },
    ]) {
      const d = await decide(ORG, pay({ amount, currency: "EUR" }), e.deps, { now: e.now() });
      expect(d.decision, JSON.stringify(amount)).toBe("DENY");
      expect(d.reasons[0]).toMatchObject({ code: "AMOUNT_UNVERIFIABLE" });
    }
    // Control: members that agree are one amount.
    expect(await decisionOf(e, pay({ amount: { value: 50, VALUE: "50" }, currency: "EUR" }))).toBe("ALLOW");
  });

  it("a declared amount that differs from the executed one is denied, saying so", async () => {
    const e = await setup({});
    const d = await decide(ORG, pay({ amount: 5000 }, { amount: 10, currency: "EUR" }), e.deps, { now: e.now() });
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]).toMatchObject({ code: "AMOUNT_UNVERIFIABLE" });
    expect(d.reasons[0]?.message).toMatch(/differs from the amount the connector receives at params\.amount/u);
  });
});

describe("fail closed when there is nothing to check", () => {
  it("a restricted token or manifest with no extractable recipient is denied, with a reason that says so", async () => {
    const e = await setup({ counterparty_allowlist: ["*@acme.com"] });
    const d = await decide(ORG, send({ params: { subject: "hi", body: "write to boss@evil.example" } }), e.deps, {
      now: e.now(),
    });
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message).toMatch(/names no recipient/u);
  });

  it("params too deep to read are denied under a recipient rule", async () => {
    const e = await setup({ counterparty_blocklist: ["*@evil.example"] });
    let params: Record<string, unknown> = { to: BLOCKED };
    for (let i = 0; i < 40; i++) params = { wrap: params };
    const d = await decide(ORG, send({ params }), e.deps, { now: e.now() });
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message).toMatch(/nested deeper/u);
  });

  it("a look-alike is refused with a reason, not matched", async () => {
    const e = await setup({ counterparty_allowlist: ["*@acme.com"] });
    const d = await decide(ORG, send({ params: { to: "ok@асme.com" } }), e.deps, { now: e.now() });
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message).toMatch(/mixes scripts/u);
  });
});

describe("what is remembered and bound is what is executed", () => {
  it("recipients in params become known counterparties in their normal form", async () => {
    const e = await setup({ escalate_new_counterparties: true });
    const first = await decide(ORG, send({ params: { to: "Ann@ACME.com.", cc: ["bob@acme.com"] } }), e.deps, {
      now: e.now(),
    });
    expect(first.decision).toBe("ESCALATE");
    expect(first.counterparties).toEqual(["ann@acme.com", "bob@acme.com"]);
    for (const c of first.counterparties) e.counterparties.remember(ORG, "customer-support-bot", c, e.now());
    const again = await decide(ORG, send({ params: { TO: "ａｎｎ@acme.com" }, counterparty: "BOB@acme.com" }), e.deps, {
      now: e.now(),
    });
    expect(again.decision).toBe("ALLOW");
    const newcomer = await decide(ORG, send({ params: { to: "ann@acme.com", bcc: "eve@acme.com" } }), e.deps, {
      now: e.now(),
    });
    expect(newcomer.decision).toBe("ESCALATE");
  });

  it("an approval's binding hash changes with any recipient the connector receives", () => {
    const a = send({ params: { to: HARMLESS } });
    const b = send({ params: { to: HARMLESS, bcc: BLOCKED } });
    const c = send({ params: { to: { email: HARMLESS, cc: BLOCKED } } });
    expect(new Set([actionHash(a), actionHash(b), actionHash(c)]).size).toBe(3);
  });
});
