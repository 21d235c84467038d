// What a string param carries (../policy/embedded-payloads.ts, ../policy/encoded-messages.ts), judged through the
// governance engine as what the connector would send: a mail message base64-encoded in Gmail's `raw` or SES's
// `Data` (outside review finding 1), and JSON or form params inside a string (finding 2). Each was ALLOWed and run.
import { describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { createIdempotencyStore } from "../idempotency";
import { ORG, supportBot } from "../policy/test-fixtures";
import type { ManifestPolicy } from "../policy/types";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";

async function engineWith(policy: ManifestPolicy = {}) {
  const db = await openMigratedDatabase(":memory:");
  const engine = createGovernanceEngine({
    db,
    approvals: createApprovalStore(db),
    idempotency: createIdempotencyStore(db),
    audit: createAuditLog(db),
  });
  engine.manifests.register(ORG, supportBot({ constraints: { max_actions_per_hour: 1000 }, policy }));
  return engine;
}
type Engine = Awaited<ReturnType<typeof engineWith>>;

const send = (engine: Engine, params: Record<string, unknown>, capabilityToken?: string) =>
  engine.execute(ORG, {
    uapk_id: "customer-support-bot",
    agent_id: "customer-support-bot",
    action: { type: "email", tool: "send", params },
    ...(capabilityToken ? { capability_token: capabilityToken } : {}),
  });

const MESSAGE = "From: ann@acme.com\r\nTo: boss@evil.example\r\nSubject: q3 numbers\r\n\r\nattached";
const gmailRaw = (message: string) => Buffer.from(message).toString("base64url");
const sesData = (message: string) => Buffer.from(message).toString("base64");

describe("a mail message encoded in a string param", () => {
  const lists: [string, ManifestPolicy][] = [
    ["an allowlist", { counterparty_allowlist: ["*@acme.com"] }],
    ["a blocklist", { counterparty_blocklist: ["*@evil.example"] }],
  ];
  for (const [name, policy] of lists)
    it(`its recipients are judged by ${name}, base64url and padded base64 alike`, async () => {
      const engine = await engineWith(policy);
      for (const raw of [
        gmailRaw(MESSAGE),
        sesData(MESSAGE),
        `${sesData(MESSAGE).slice(0, 20)}\r\n${sesData(MESSAGE).slice(20)}`,
      ]) {
        const r = await send(engine, { to: "ann@acme.com", raw });
        expect(r).toMatchObject({ decision: "DENY", executed: false, reasons: [{ code: "COUNTERPARTY_BLOCKED" }] });
        expect(JSON.stringify(r.reasons)).toContain("boss@evil.example");
      }
      // SES's shape, the message deeper in the params.
      const ses = await send(engine, { Destinations: ["ann@acme.com"], RawMessage: { Data: sesData(MESSAGE) } });
      expect(ses).toMatchObject({ decision: "DENY", executed: false });
      // A message to acme.com alone is sent.
      const fine = gmailRaw("From: ann@acme.com\r\nTo: bob@acme.com\r\nSubject: hi\r\n\r\nhello");
      expect(await send(engine, { to: "bob@acme.com", raw: fine })).toMatchObject({
        decision: "ALLOW",
        executed: true,
      });
    });

  it("is judged by a capability token's allowed_recipients", async () => {
    const engine = await engineWith();
    const manifest = engine.manifests.getByUapkId(ORG, "customer-support-bot");
    const { token } = await engine.tokens.issue({
      orgId: ORG,
      issuerId: "ops@acme.com",
      issuedBy: "ops@acme.com",
      agentId: "customer-support-bot",
      manifest: manifest!,
      capabilities: ["email:send"],
      constraints: { allowed_recipients: ["*@acme.com"] },
    });
    const raw = gmailRaw("To: boss@evil.example\r\nSubject: x\r\n\r\nq3");
    expect(await send(engine, { to: "ann@acme.com", raw }, token)).toMatchObject({ decision: "DENY", executed: false });
    expect(
      await send(engine, { to: "ann@acme.com", raw: gmailRaw("To: ann@acme.com\r\n\r\nq3") }, token),
    ).toMatchObject({
      decision: "ALLOW",
      executed: true,
    });
  });

  // RFC 5322 §3.4: `To: friends: boss@evil.example;` sends to every member of the group `friends` (Python's
  // getaddresses, nodemailer). With one member, the header's `To:` was taken for the group's name and the member read
  // as prose.
  const grouped = [
    "From: ann@acme.com\r\nTo: friends: boss@evil.example;\r\n\r\nhi",
    "From: ann@acme.com\r\nTo: friends: boss@evil.example\r\n\r\nhi",
    "From: ann@acme.com\r\nCc: a: b: boss@evil.example;\r\n\r\nhi",
    "From: ann@acme.com\r\nBcc: Team Leads : boss@evil.example ;\r\n\r\nhi",
  ];
  for (const [name, policy] of lists)
    it(`every member of a group in a header line is judged by ${name}, encoded or in plain text`, async () => {
      const engine = await engineWith(policy);
      for (const message of grouped)
        for (const params of [
          { to: "ann@acme.com", raw: gmailRaw(message) },
          { to: "ann@acme.com", headers: message },
        ]) {
          const r = await send(engine, params);
          expect(r, message).toMatchObject({ decision: "DENY", executed: false });
          expect(JSON.stringify(r.reasons)).toContain("boss@evil.example");
        }
      const fine = "From: ann@acme.com\r\nTo: friends: bob@acme.com;\r\nSubject: Re: hi\r\n\r\nhello";
      for (const params of [
        { to: "ann@acme.com", raw: gmailRaw(fine) },
        { to: "ann@acme.com", headers: fine },
      ])
        expect(await send(engine, params)).toMatchObject({ decision: "ALLOW", executed: true });
    });

  it("every member of a group in a header line is judged by a capability token's allowed_recipients", async () => {
    const engine = await engineWith();
    const manifest = engine.manifests.getByUapkId(ORG, "customer-support-bot");
    const { token } = await engine.tokens.issue({
      orgId: ORG,
      issuerId: "ops@acme.com",
      issuedBy: "ops@acme.com",
      agentId: "customer-support-bot",
      manifest: manifest!,
      capabilities: ["email:send"],
      constraints: { allowed_recipients: ["*@acme.com"] },
    });
    const raw = gmailRaw("To: friends: boss@evil.example;\r\n\r\nq3");
    expect(await send(engine, { to: "ann@acme.com", raw }, token)).toMatchObject({ decision: "DENY", executed: false });
  });

  it("reads encoded words in its header lines, and fails closed when it is not cleanly base64", async () => {
    const engine = await engineWith({ counterparty_allowlist: ["*@acme.com"] });
    const encoded = `=?utf-8?b?${Buffer.from("boss@evil.example").toString("base64")}?=`;
    for (const raw of [
      gmailRaw(`X_Mailer: 1\r\nBcc: ${encoded}\r\n\r\nhi`),
      `To: =?utf-8?q?boss=40evil.example?=\r\n\r\nhi`,
    ])
      expect(await send(engine, { to: "ann@acme.com", raw })).toMatchObject({ decision: "DENY", executed: false });
    // A lenient decoder skips the `!` (Node's does) and reads the message; the policy cannot know which reading.
    for (const raw of [`${gmailRaw(MESSAGE).slice(0, 8)}!${gmailRaw(MESSAGE).slice(8)}`, `.${gmailRaw(MESSAGE)}`]) {
      const r = await send(engine, { to: "ann@acme.com", raw });
      expect(r).toMatchObject({ decision: "DENY", executed: false, reasons: [{ code: "COUNTERPARTY_BLOCKED" }] });
      expect(r.reasons[0]?.message).toContain("base64 mail message");
    }
  });

  it("ids, tokens and attachments that are no message stay unread", async () => {
    const engine = await engineWith({ counterparty_allowlist: ["*@acme.com"] });
    const params = {
      to: "ann@acme.com",
      thread_id: "dGhyZWFkLTEyMzQ1Njc4OQ",
      jwt: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
      attachment: sesData(`\x89PNG\r\n\x1a\n${"x".repeat(400)}`),
      body: "Thanks, talk soon",
    };
    expect(await send(engine, params)).toMatchObject({ decision: "ALLOW", executed: true });
  });
});

describe("params inside a JSON or form string", () => {
  it("amounts in them are judged by the threshold", async () => {
    const engine = await engineWith({ amount_threshold: { amount: 100, currency: "EUR" } });
    const payloads = [
      { to: "ann@acme.com", payload: '{"amount":5000,"currency":"EUR"}' },
      { to: "ann@acme.com", amount: 50, currency: "EUR", form: "amount=5000&currency=EUR" },
      { to: "ann@acme.com", amount: 50, currency: "EUR", payload: '[{"amount":5000}]' },
    ];
    for (const params of payloads)
      expect(await send(engine, params)).toMatchObject({
        decision: "ESCALATE",
        executed: false,
        reasons: [{ code: "AMOUNT_THRESHOLD" }],
      });
    expect(await send(engine, { to: "ann@acme.com", payload: '{"amount":50,"currency":"EUR"}' })).toMatchObject({
      decision: "ALLOW",
    });
  });

  it("countries and names in them are judged by the blocklists", async () => {
    const engine = await engineWith({ jurisdiction_blocklist: ["KP"], counterparty_blocklist: ["Evil Corp"] });
    for (const params of [
      { to: "ann@acme.com", country: "DE", payload: '{"country":"KP"}' },
      { to: "ann@acme.com", payload: '{"payee":"Evil Corp"}' },
      { to: "ann@acme.com", form: "beneficiary_country=KP&note=x" },
    ])
      expect(await send(engine, params)).toMatchObject({ decision: "DENY", executed: false });
  });

  // A lenient server (Node's URLSearchParams, Python's parse_qs, qs) reads a form holding a literal space or a final
  // line break as it reads one that writes them `+` / `%0A`: refusing whitespace as a form's would send 5000 EUR unread.
  it("a form holding a literal space or a final line break is still read", async () => {
    const engine = await engineWith({ amount_threshold: { amount: 100, currency: "EUR" } });
    for (const form of [
      "amount=5000&currency=EUR&note=hi there",
      "amount=5000&currency=EUR\n",
      "amount=5000&currency=EUR&note=in+logs",
      "note=in%20logs&amount=5000&currency=EUR",
    ])
      expect(await send(engine, { to: "ann@acme.com", amount: 50, currency: "EUR", form }), form).toMatchObject({
        decision: "ESCALATE",
        executed: false,
        reasons: [{ code: "AMOUNT_THRESHOLD" }],
      });
  });

  it("counts their values against the params bound", async () => {
    const engine = await engineWith({ counterparty_allowlist: ["*@acme.com"] });
    const big = JSON.stringify(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])));
    const r = await send(engine, { to: "ann@acme.com", payload: big });
    expect(r).toMatchObject({ decision: "DENY", executed: false });
    expect(r.reasons[0]?.message).toContain("more than 10000 values");
  });

  it("ordinary payloads stay allowed: Slack blocks, a GitHub issue body, Stripe metadata", async () => {
    const engine = await engineWith({
      amount_threshold: { amount: 100, currency: "EUR" },
      counterparty_allowlist: ["*@acme.com"],
      jurisdiction_blocklist: ["KP"],
    });
    const blocks = JSON.stringify([
      { type: "header", text: { type: "plain_text", text: "Deploy done", emoji: true } },
      { type: "section", text: { type: "mrkdwn", text: "*Service:* api\n*Version:* 1.4.2" }, block_id: "b1" },
      { type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Open" }, value: "open_1" }] },
    ]);
    const body = 'Repro:\n\n```json\n{"amount": 5000, "currency": "EUR", "country": "KP"}\n```\n\nExpected: a 400.';
    const metadata = { order_id: "ord_123", cart: '[{"sku":"A1","qty":2}]', flags: '{"beta":true}', ref: "a=b" };
    for (const params of [
      { to: "ann@acme.com", country: "DE", channel: "C123", blocks },
      { to: "ann@acme.com", country: "DE", title: "Bug", body, labels: ["bug"] },
      { to: "ann@acme.com", country: "DE", amount: 40, currency: "EUR", metadata },
    ]) {
      const r = await send(engine, params);
      expect(r, JSON.stringify(r.reasons)).toMatchObject({ decision: "ALLOW", executed: true });
    }
  });
});
