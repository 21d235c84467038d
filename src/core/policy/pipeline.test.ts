import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { approvalBindingHash } from "../approvals/binding";
import { actionHash, approvalBindingOf } from "./action-hash";
import { BudgetCounters } from "./budget-counters";
import { type ApprovalView, decide, type PolicyDeps } from "./pipeline";
import { emailRequest, engine, ORG, supportBot } from "./test-fixtures";
import type { ActionRequest, ManifestInput } from "./types";

type Setup = Awaited<ReturnType<typeof engine>>;
interface Case {
  name: string;
  manifest?: Partial<ManifestInput> | null;
  request?: Partial<ActionRequest>;
  prepare?: (e: Setup, request: ActionRequest) => Promise<Partial<ActionRequest> | void> | void;
  decision: "ALLOW" | "DENY" | "ESCALATE";
  codes: string[];
  /** The check whose trace entry must carry `fail` / `escalate`. */
  check?: string;
}

const wire = { type: "payment", tool: "wire", params: { iban: "DE00" } };
const eur = (value: string) => ({ currency_code: "EUR", value });
const paymentsBot = (policy: NonNullable<ManifestInput["policy"]>): Partial<ManifestInput> => ({
  capabilities: ["payment:wire", "email:send"],
  constraints: {},
  policy,
  tools: { "payment:wire": { connector: { type: "noop" } }, "email:send": { connector: { type: "echo" } } },
});

const cases: Case[] = [
  { name: "seed email send is allowed", decision: "ALLOW", codes: [] },
  {
    name: "unknown manifest",
    manifest: null,
    decision: "DENY",
    codes: ["MANIFEST_NOT_FOUND"],
    check: "manifest_validation",
  },
  {
    name: "manifest of another agent",
    request: { agent_id: "intruder" },
    decision: "DENY",
    codes: ["MANIFEST_NOT_FOUND"],
    check: "manifest_validation",
  },
  {
    name: "suspended manifest",
    prepare: (e) =>
      void e.manifests.setStatus(ORG, e.manifests.getByUapkId(ORG, "customer-support-bot")!.manifest_id, "suspended"),
    decision: "DENY",
    codes: ["MANIFEST_INACTIVE"],
    check: "manifest_validation",
  },
  {
    name: "garbage token",
    request: { capability_token: "not-a-jwt" },
    decision: "DENY",
    codes: ["INVALID_TOKEN"],
    check: "capability_token",
  },
  {
    name: "token required but absent",
    manifest: { policy: { require_capability_token: true } },
    decision: "DENY",
    codes: ["INVALID_TOKEN"],
    check: "capability_token",
  },
  {
    name: "revoked token",
    prepare: async (e) => {
      const t = await issue(e, ["email:send"]);
      e.tokens.revoke(ORG, t.token_id, "ops@acme.com", "leaked");
      return { capability_token: t.token };
    },
    decision: "DENY",
    codes: ["TOKEN_REVOKED"],
    check: "capability_token",
  },
  {
    name: "action type not in manifest",
    request: { action: { type: "sms", tool: "send", params: {} } },
    decision: "DENY",
    codes: ["ACTION_NOT_ALLOWED"],
    check: "action_type",
  },
  {
    name: "tool not in manifest",
    request: { action: { type: "crm", tool: "export", params: {} } },
    decision: "DENY",
    codes: ["TOOL_NOT_AUTHORIZED"],
    check: "tool_authorization",
  },
  {
    name: "capability outside the token",
    prepare: async (e) => ({ capability_token: (await issue(e, ["crm:read"])).token }),
    decision: "DENY",
    codes: ["CAPABILITY_MISSING"],
    check: "tool_authorization",
  },
  {
    name: "hourly budget exhausted",
    manifest: { constraints: { max_actions_per_hour: 2 } },
    prepare: (e) => exhaust(e, 2),
    decision: "DENY",
    codes: ["BUDGET_EXCEEDED"],
    check: "budget_check",
  },
  {
    name: "token max_actions exhausted",
    prepare: async (e) => {
      const t = await issue(e, ["email:send"], { max_actions: 1 });
      e.budgets.tryConsume([{ scope: BudgetCounters.tokenScope(t.token_id), window: 0, limit: 1 }]);
      return { capability_token: t.token };
    },
    decision: "DENY",
    codes: ["BUDGET_EXCEEDED"],
    check: "budget_check",
  },
  {
    name: "blocked jurisdiction",
    manifest: paymentsBot({ jurisdiction_blocklist: ["KP"] }),
    request: { action: { ...wire, jurisdiction: "kp" } },
    decision: "DENY",
    codes: ["JURISDICTION_BLOCKED"],
    check: "jurisdiction_check",
  },
  {
    name: "missing jurisdiction fails closed",
    manifest: paymentsBot({ jurisdiction_allowlist: ["DE", "FR"] }),
    request: { action: wire },
    decision: "DENY",
    codes: ["JURISDICTION_BLOCKED"],
    check: "jurisdiction_check",
  },
  {
    name: "blocked counterparty",
    manifest: paymentsBot({ counterparty_blocklist: ["*@evil.example"] }),
    request: { action: { ...wire, counterparty: "Boss@EVIL.example" } },
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  {
    name: "a blocked domain's dotted address (first.last@) is blocked too",
    manifest: paymentsBot({ counterparty_blocklist: ["*@evil.example"] }),
    request: { action: { ...wire, params: { to: "john.doe@evil.example" } } },
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  ...[
    ["DE89370400440532013000", "DE89 3704 0044 0532 0130 00"],
    ["DE89 3704 0044 0532 0130 00", "de89370400440532013000"],
    ["DE89 3704 0044 0532 0130 00", "DE89-3704-0044-0532-0130-00"],
    ["+15550100", "+1 (555) 01-00"],
    ["DE89 *", "DE89\u00a03704\u00a00044"],
  ].map(
    ([blocked, sent]): Case => ({
      name: `a blocked identifier in another grouping is blocked: ${blocked} / ${sent}`,
      manifest: paymentsBot({ counterparty_blocklist: [blocked as string] }),
      request: { action: { ...wire, counterparty: JSON.parse(`"${sent}"`) } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  // An address a pattern would not read as its author meant (a route, a port, a literal) is refused, under a
  // blocklist alone too: `*@evil.example` must not miss mail that reaches evil.example.
  ...[{ counterparty_blocklist: ["*@evil.example"] }, { counterparty_allowlist: ["*@acme.example"] }].flatMap((lists) =>
    [
      "x@evil.example:25",
      "x@[evil.example]",
      "x@[10.0.0.1]",
      "mailto:boss@acme.example",
      "user%evil.example@acme.example",
      "evil.example!user@acme.example",
      "x@acme.example/evil",
    ].map(
      (sent): Case => ({
        name: `${JSON.stringify(lists)}: ${sent} is refused`,
        manifest: paymentsBot(lists),
        request: { action: { ...wire, params: { to: sent } } },
        decision: "DENY",
        codes: ["COUNTERPARTY_BLOCKED"],
        check: "counterparty_check",
      }),
    ),
  ),
  ...["recipientEmail", "payee_email", "BeneficiaryEmailAddress", "recipient_emails"].map(
    (key): Case => ({
      name: `a party's mailbox under ${key} is a recipient`,
      manifest: paymentsBot({ counterparty_blocklist: ["*@evil.example"] }),
      request: { action: { ...wire, params: { [key]: "boss@evil.example" } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  {
    name: "a blocked Gmail mailbox is blocked however dotted, tagged or spelled (googlemail.com)",
    manifest: paymentsBot({ counterparty_blocklist: ["jdoe@gmail.com"] }),
    request: { action: { ...wire, counterparty: "J.Doe+pay@googlemail.com" } },
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  {
    name: "a blocklist compares addresses and domains as written, never without their dashes",
    manifest: paymentsBot({ counterparty_blocklist: ["*@evilcorp.com", "evilcorp.com"] }),
    request: { action: { ...wire, counterparty: "evil-corp.com", params: { to: "x@evil-corp.com" } } },
    decision: "ALLOW",
    codes: [],
  },
  {
    name: "an allowlist takes an identifier as written: acme-vendor does not allow acmevendor",
    manifest: paymentsBot({ counterparty_allowlist: ["acme-vendor"] }),
    request: { action: { ...wire, counterparty: "acmevendor" } },
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  // Where the money lands, beside an allowed `to`: Stripe's `destination`, a bank account number, a crypto wallet.
  ...[
    { destination: "acct_EVIL" },
    { account_number: "99999999", routing_number: "021000021" },
    { wallet_address: "0xEVIL" },
    { payout: { destinationWallet: "0xEVIL" } },
    { payout_destination: "acct_EVIL" },
    { account_no: "999" },
    { wallet_id: "w_evil" },
    { walletAddr: "0xEVIL" },
    { bank_account: { number: "999" } },
    { receiver: "acct_EVIL" },
    // A counterparty by its id or account, and Wise's transfer, which names its party by `targetAccount` alone.
    { counterparty_id: "cp_EVIL" },
    { counterpartyId: "cp_EVIL" },
    { COUNTERPARTY_ACCOUNT: "999" },
    { counterparty_account_number: "999" },
    { targetAccount: 12345, quoteUuid: "q-1", customerTransactionId: "t-1", details: { reference: "inv 7" } },
    // The account paid under other spellings (R14): Modern Treasury's `receiving_account_id`, a transfer's
    // `to_account_id`, a uuid or a UPI address of the party, Stripe's `destination_payment_method`.
    { counterparty_id: "cp_KNOWN", receiving_account_id: "EVIL_ACCT_1" },
    { to_account: "EVIL_ACCT_1" },
    { to_account_id: "EVIL_ACCT_1" },
    { toAccountId: "EVIL_ACCT_1" },
    { receiver_id: "EVIL_ACCT_1" },
    { receiverAccount: "EVIL_ACCT_1" },
    { beneficiary_uuid: "EVIL_ACCT_1" },
    { counterparty_uuid: "EVIL_ACCT_1" },
    { recipient_account_uuid: "EVIL_ACCT_1" },
    { target_account_uuid: "EVIL_ACCT_1" },
    { payee_vpa: "evil@upi" },
    { destination_payment_method: "pm_EVIL" },
  ].map(
    (params): Case => ({
      name: `a destination account beside an allowed recipient (${JSON.stringify(params)}) is checked`,
      manifest: paymentsBot({ counterparty_allowlist: ["*@acme.example"] }),
      request: { action: { ...wire, params: { to: "bob@acme.example", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  // Prose that mentions an address beside a bracketed one (an email's body) names no recipient: a word of it refused
  // ("jane@customer.example:", not a host name) denied the action under a blocklist alone (R14).
  ...[
    "Ticket from jane@customer.example: please reply to Support <support@acme.example>",
    "Thanks! Reach Bob <bob@acme.example> or write to jane@customer.example!",
  ].map(
    (body): Case => ({
      name: `prose beside a bracketed address (${JSON.stringify(body)}) is no recipient`,
      manifest: paymentsBot({ counterparty_blocklist: ["*@evil.example"] }),
      request: { action: { ...wire, params: { iban: "DE00", to: "ops@acme.example", body } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  // A party object with a mailbox member beside other members (R6): its mailbox does not vouch for the rest.
  ...[
    { payee: { email: "billing@acme.example", iban: "GB33BUKB20201555555555" } },
    { payee: { email: "billing@acme.example", account_number: "99999999", routing_number: "021000021" } },
    { beneficiary: { email: "billing@acme.example", bank_account: { iban: "GB33BUKB20201555555555" } } },
    { payee: { email: "billing@acme.example", wallet_address: "0xdeadbeef" } },
    { to: { email: "bob@acme.example", bcc: ["eve@evil.example"] } },
    { to: { email: "bob@acme.example", cc: "eve@evil.example" } },
    { to: { email: "bob@acme.example", to: "eve@evil.example" } },
    { to: { email: "bob@acme.example", email2: "eve@evil.example" } },
    { to: { email: ["eve@evil.example"], address: "bob@acme.example" } },
    { to: { email: "bob@acme.example", name: "x\nBcc: eve@evil.example" } },
    { personalizations: [{ to: [{ email: "bob@acme.example", name: "eve@evil.example" }] }] },
    // A payee's every member names it (R8): its name, PayPal v2's merchant_id, beside an allowed mailbox.
    { payee: { email: "billing@acme.example", name: "Evil Corp" } },
    { payee: { email_address: "billing@acme.example", merchant_id: "EVILMERCHANT" } },
    { payee: { name: "Evil Corp", address: "1 Main St" } },
  ].map(
    (params): Case => ({
      name: `a mailbox member does not vouch for what is beside it (${JSON.stringify(params)})`,
      manifest: paymentsBot({ counterparty_allowlist: ["*@acme.example", "DE00"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  // A party inside a mail entry is judged as a party (R11), and an account beside a mailbox is where money lands.
  ...[
    { recipients: [{ payee: { email: "ok@acme.example", name: "Evil Corp" } }] },
    { to: [{ group: { payee: { email: "ok@acme.example", name: "Evil Corp" } } }] },
    { recipients: [{ beneficiary: { email: "ok@acme.example", merchant_id: "Evil Corp" } }] },
    { recipient: { email: "ok@acme.example", account: "Evil Corp" } },
  ].map(
    (params): Case => ({
      name: `a party below a mail key is a party's (${JSON.stringify(params)})`,
      manifest: paymentsBot({ counterparty_blocklist: ["evil corp"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  {
    // A declared place ending in a mail key reads its entries as mailboxes: SendGrid's display names are no one.
    name: "a declared mail place judges the mailbox, not the display name",
    manifest: {
      ...paymentsBot({ counterparty_allowlist: ["*@acme.example"] }),
      tools: {
        "payment:wire": {
          connector: { type: "noop" },
          recipient_params: ["personalizations.to"],
          recipient_params_only: true,
        },
        "email:send": { connector: { type: "echo" } },
      },
    },
    request: {
      action: { ...wire, params: { personalizations: [{ to: [{ email: "a@acme.example", name: "Ann" }] }] } },
    },
    decision: "ALLOW",
    codes: [],
  },
  {
    // PayPal v2: the breakdown details the amount around it (60), its money objects are not more amounts.
    name: "a PayPal v2 breakdown does not add its shipping, handling and discount to the amount",
    manifest: paymentsBot({ amount_threshold: { amount: 80, currency: "EUR" } }),
    request: {
      action: {
        ...wire,
        params: {
          iban: "DE00",
          amount: {
            currency_code: "EUR",
            value: "60",
            breakdown: {
              shipping: { currency_code: "EUR", value: "10" },
              handling: { currency_code: "EUR", value: "5" },
              discount: { currency_code: "EUR", value: "10" },
            },
          },
        },
      },
    },
    decision: "ALLOW",
    codes: [],
  },
  // A breakdown's item_total, tax_total (v2) or subtotal (v1) details the amount too: judged once, at the larger.
  ...[
    { params: { amount: { ...eur("60"), breakdown: { item_total: eur("50"), tax_total: eur("10") } } } },
    { params: { amount: { total: "60", currency: "EUR", details: { subtotal: "55", tax: "5" } } } },
    { params: { amount: { amount: "60", currency: "EUR" } } },
    { params: { purchase_units: [{ amount: { ...eur("60"), breakdown: { item_total: eur("60") } } }] }, amount: 60 },
  ].map(
    ({ params, ...declared }): Case => ({
      name: `a breakdown does not add to the amount it details (${JSON.stringify(params)}): ALLOW`,
      manifest: paymentsBot({ amount_threshold: { amount: 80, currency: "EUR" } }),
      request: { action: { ...wire, ...declared, params: { iban: "DE00", ...params } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  // Never less than either: a breakdown larger than its amount, separate purchase units add up.
  ...[
    { amount: { ...eur("1"), breakdown: { item_total: eur("5000") } } },
    { purchase_units: [{ amount: eur("60") }, { amount: { ...eur("60"), breakdown: { item_total: eur("60") } } }] },
  ].map(
    (params): Case => ({
      name: `a breakdown or another purchase unit is still counted (${JSON.stringify(params)}): ESCALATE`,
      manifest: paymentsBot({ amount_threshold: { amount: 80, currency: "EUR" } }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "ESCALATE",
      codes: ["AMOUNT_THRESHOLD"],
      check: "amount_threshold",
    }),
  ),
  // PayPal v2 Orders: a purchase unit's items detail its amount (PayPal checks amount = item_total + tax + …), so an
  // honest order of 230 EUR is judged at 230, not at 230 plus its items; an amount below its items at their sum.
  ...[
    { value: "230.00", decision: "ALLOW" as const },
    { value: "20.00", decision: "ESCALATE" as const, quantity: "30" },
  ].map(
    ({ value, decision, quantity = "2" }): Case => ({
      name: `a PayPal v2 order's items detail its amount (${value}, ${quantity} shirts): ${decision}`,
      manifest: paymentsBot({ amount_threshold: { amount: 300, currency: "EUR" } }),
      request: {
        action: {
          ...wire,
          params: {
            iban: "DE00",
            intent: "CAPTURE",
            purchase_units: [
              {
                reference_id: "default",
                amount: {
                  ...eur(value),
                  breakdown: { item_total: eur("200.00"), tax_total: eur("20.00"), shipping: eur("10.00") },
                },
                items: [
                  { name: "T-Shirt", quantity, unit_amount: eur("50.00"), tax: eur("5.00") },
                  { name: "Hoodie", quantity: "1", unit_amount: eur("100.00"), tax: eur("10.00") },
                ],
              },
            ],
          },
        },
      },
      decision,
      codes: decision === "ALLOW" ? [] : ["AMOUNT_THRESHOLD"],
      ...(decision === "ALLOW" ? {} : { check: "amount_threshold" }),
    }),
  ),
  // A PayPal v2 order's item money (`items[].unit_amount` times its `quantity`) is judged as an amount-level total
  // is, by the threshold and by the hourly money budget: an understated or missing unit amount is judged at its
  // items, a quantity beside the value in the money object itself multiplies it, and a value or a quantity that is
  // no plain non-negative number fails closed.
  ...paypalItemCases(),
  // Circle's transfer destinations: the descriptor (`type`) is no recipient, what it describes is.
  ...[
    { destination: { type: "wallet", id: "1000216185" }, decision: "ALLOW" as const },
    { destination: { type: "blockchain", address: "0xACME", chain: "ETH" }, decision: "ALLOW" as const },
    { destination: { type: "wallet", id: "666" }, decision: "DENY" as const },
    { destination: { type: "eve@evil.example", id: "1000216185" }, decision: "DENY" as const },
    { destination: { TYPE: "wallet", id: "1000216185", kind: ["x@evil.example"] }, decision: "DENY" as const },
  ].map(
    ({ decision, ...params }): Case => ({
      name: `a destination's descriptor is no recipient (${JSON.stringify(params)}): ${decision}`,
      manifest: paymentsBot({ counterparty_allowlist: ["1000216185", "0xacme", "DE00"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision,
      codes: decision === "ALLOW" ? [] : ["COUNTERPARTY_BLOCKED"],
      ...(decision === "ALLOW" ? {} : { check: "counterparty_check" }),
    }),
  ),
  ...[
    { to: { email: "bob@acme.example", name: "Bob" } },
    { personalizations: [{ to: [{ email: "bob@acme.example", name: "Bob <bob@acme.example>" }], subject: "Hi" }] },
    { payee: { email: "billing@acme.example", reference: "INV-1", currency: "EUR", country: "DE" } },
  ].map(
    (params): Case => ({
      name: `a mailbox with a display name is judged by the mailbox (${JSON.stringify(params)})`,
      manifest: paymentsBot({ counterparty_allowlist: ["*@acme.example", "DE00"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  // A mail key's string in RFC 5322 list form (Mailgun's `to`): the mailbox in angle brackets is judged, not the
  // display name; a string that is not cleanly such a list is judged whole (each of its words a recipient).
  ...[
    { to: "Bob <a@acme.example>", decision: "ALLOW" as const },
    { to: "Bob <a@acme.example>, c@acme.example", decision: "ALLOW" as const },
    { to: '"Doe, Jane" <j@acme.example>; Bob Smith <b@acme.example>,', decision: "ALLOW" as const },
    { cc: ["Ann Müller <a@acme.example>", "b@acme.example"], decision: "ALLOW" as const },
    { to: { email: "Ann <a@acme.example>", name: "Ann" }, decision: "ALLOW" as const },
    { to: '"a@acme.example" <evil@x.example>', decision: "DENY" as const },
    { to: '"evil@x.example" <a@acme.example>', decision: "DENY" as const },
    { to: "a@acme.example <evil@x.example>", decision: "DENY" as const },
    { to: 'Bob <a@acme.example>, "Eve" <evil@x.example>', decision: "DENY" as const },
    { to: "Bob <a@acme.example> evil@x.example", decision: "DENY" as const },
    { to: "Bob <a@acme.example>\r\nBcc: evil@x.example", decision: "DENY" as const },
    { to: "Bob <a@acme.example, evil@x.example>", decision: "DENY" as const },
    { to: "Bob <<evil@x.example>a@acme.example>", decision: "DENY" as const },
    { to: '"Bob <a@acme.example>" evil@x.example', decision: "DENY" as const },
    { to: 'Bob <a@acme.example>, "Eve \\" <x> " <evil@x.example>', decision: "DENY" as const },
    { to: "Bob (evil@x.example) <a@acme.example>", decision: "DENY" as const },
    { to: "Bob <a@acme.example>, Eve <evil@x.example", decision: "DENY" as const },
    { to: "Team: <a@acme.example>, <evil@x.example>;", decision: "DENY" as const },
    { to: "Bob <a@аcme.example>", decision: "DENY" as const },
    { payee: "Bob <a@acme.example>", decision: "DENY" as const },
    // A display name a parser decodes into an address (RFC 2047, an HTML character reference): judged whole (R14).
    { to: "=?utf-8?q?evil=40x.example?= <a@acme.example>", decision: "DENY" as const },
    { to: "=?utf-8?b?ZXZpbEB4LmV4YW1wbGU=?= <a@acme.example>", decision: "DENY" as const },
    { to: '"evil&#x40;x.example" <a@acme.example>', decision: "DENY" as const },
    { to: "evil&commat;x.example <a@acme.example>", decision: "DENY" as const },
    // Prose in another param that mentions an address beside a bracketed one names no recipient (R14).
    {
      to: "a@acme.example",
      body: "Forwarded for jane@customer.example by Bob <bob@acme.example>",
      decision: "ALLOW" as const,
    },
    // A mail API's `to_name` is the display name, no party.
    { to: "a@acme.example", to_name: "Bob", decision: "ALLOW" as const },
  ].map(
    ({ decision, ...params }): Case => ({
      name: `a mail list string ${JSON.stringify(params)} under an allowlist: ${decision}`,
      manifest: paymentsBot({ counterparty_allowlist: ["*@acme.example", "DE00"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision,
      codes: decision === "ALLOW" ? [] : ["COUNTERPARTY_BLOCKED"],
      ...(decision === "ALLOW" ? {} : { check: "counterparty_check" }),
    }),
  ),
  ...['"a@acme.example" <evil@x.example>', '"Doe, Jane" <j@x.example>', "Bob <ok@acme.example>, Eve <j@x.example>"].map(
    (to): Case => ({
      name: `a blocked mailbox in a mail list string ${JSON.stringify(to)} is blocked`,
      manifest: paymentsBot({ counterparty_blocklist: ["*@x.example"] }),
      request: { action: { ...wire, params: { iban: "DE00", to } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  // A display name is no recipient (an allowlisted mailbox under any name passes), but a blocklist judges it: mail
  // addressed to Evil Corp by name, in a list string or as a mailbox object's name, is what it is there to stop.
  ...[
    { to: "Evil Corp <ceo@x.example>", decision: "DENY" as const },
    { to: 'b@acme.example, "EVIL CORP" <ceo@x.example>', decision: "DENY" as const },
    { cc: ["Ｅｖｉｌ Ｃｏｒｐ <ceo@x.example>"], decision: "DENY" as const },
    { to: { email: "ceo@x.example", name: "Evil Corp" }, decision: "DENY" as const },
    { Recipients: [{ Email: "ceo@x.example", Display_Name: "Evil-Corp" }], decision: "DENY" as const },
    { toRecipients: [{ emailAddress: { address: "ceo@x.example", name: "evil corp" } }], decision: "DENY" as const },
    { to: { email: "ceo@x.example", company: "Evil Corp" }, decision: "DENY" as const },
    { to: "Good Corp <ceo@x.example>, Evil <e@x.example>", decision: "ALLOW" as const },
    { to: { email: "ceo@x.example", name: "Good Corp", note: "not Evil Corp" }, decision: "ALLOW" as const },
  ].map(
    ({ decision, ...params }): Case => ({
      name: `a display name in ${JSON.stringify(params)} under a blocklist of it: ${decision}`,
      manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision,
      codes: decision === "ALLOW" ? [] : ["COUNTERPARTY_BLOCKED"],
      ...(decision === "ALLOW" ? {} : { check: "counterparty_check" }),
    }),
  ),
  // The name of the party paid or written to under a key that says whose (a card payment's merchant, a bill's
  // vendor, an account's holder, a mail API's `to_name`) or under its role: a blocklist judges it as it judges a
  // display name (case, full width, spacing, grouping); prose (`description`, `note`, `memo`) names no one.
  ...[
    { merchant_name: "Evil Corp" },
    { merchant: { id: "acct_1", name: "EVIL CORP" } },
    { VendorRef: { value: "56", name: "Evil   Corp" } },
    { vendors: ["Ｅｖｉｌ Ｃｏｒｐ"] },
    { accountHolderName: "Evil-Corp", sortCode: "040004" },
    { to: "ceo@x.example", to_name: "Evil Corp" },
    { customer: { email: "ceo@x.example", name: "evil corp" } },
    { customer_details: { name: "Evil Corp", phone: null } },
    { payee_legal_name: "Evil Corp" },
    { merchant_name: ["Evil Corp"] },
    { customer: { id: "cus_1", name: { given_name: "Evil", surname: "Corp" } } },
    // The name a business trades under, a name inside the party's own objects and lists (its profile, its
    // accounts, a list of lists), and a statement descriptor: what the payee's statement shows, the merchant's name.
    { merchant_dba_name: "Evil Corp" },
    { merchant: { id: "acct_1", profile: { name: "Evil Corp" } } },
    { merchant_data: { name: "EVIL CORP", city: "Berlin" } },
    { vendors: [{ id: "v-1", accounts: [{ name: "Evil Corp" }] }] },
    { merchants: [[{ name: "Evil Corp" }]] },
    { payees: [{ accounts: [{ name: "Evil Corp" }] }] },
    { statement_descriptor: "EVIL CORP" },
    { statement_descriptor_suffix: "Evil Corp" },
    { calculated_statement_descriptor: "ACME* EVIL CORP" },
    { payment_method_options: { card: { statement_descriptor_suffix_kanji: "Evil Corp" } } },
    { intent: "CAPTURE", purchase_units: [{ reference_id: "u1", soft_descriptor: "EVIL CORP" }] },
    { billing_descriptor: { name: "Evil Corp", city: "Berlin" } },
  ].map(
    (params): Case => ({
      name: `a party's name in ${JSON.stringify(params)} under a blocklist of it: DENY`,
      manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  {
    // Real statements show two or three pieces; 330,000 of them (a 1 MB "ab*ab*…") were each judged as a name.
    name: "a statement descriptor of more than 16 '*' pieces is not read piece by piece: the rules fail closed",
    manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
    request: { action: { ...wire, params: { iban: "DE00", statement_descriptor: `${"ab*".repeat(17)}GOOD CORP` } } },
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  ...[
    { description: "Refund to Evil Corp", note: "Evil Corp", memo: "Evil Corp", statement_descriptor: "GOOD CORP" },
    { merchant: { name: "Good Corp", description: "formerly Evil Corp" }, memo: "not Evil Corp" },
    { merchant: { name: "Good Corp", profile: { bio: "Evil Corp's rival", name: "Good Corp GmbH" } } },
    { statement_descriptor: "GOOD CORP* ORDER 1234", description: "Order for Evil Corp" },
  ].map(
    (params): Case => ({
      name: `prose beside a party's name in ${JSON.stringify(params)} under a blocklist: ALLOW`,
      manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  // Who owns the party, and the parties of a marketplace order (the seller a product is sold by, the shop or store
  // selling it, a payment facilitator's sub-merchant: Adyen's `subMerchants`, its flat `subMerchant.subSeller1.name`,
  // Shopify's `shop_owner`, Stripe Financial Connections' `owner: {name}`): names a blocklist judges, at any depth.
  ...[
    { merchant: { id: "acct_1", name: "Good Shop", owner: { name: "Evil Corp" } } },
    { merchant: { id: "acct_1", owners: [{ name: "Evil Corp", percent_ownership: 60 }] } },
    { shop: { id: 1, name: "Good Shop", shop_owner: "Evil Corp" } },
    { account: { id: "fca_1", owner: { name: "Evil Corp", phone: null } } },
    { company: { name: "Good Corp", beneficial_owners: [{ name: "Evil Corp" }] } },
    { products: [{ sku: "W-1", name: "Widget", sold_by: "Evil Corp" }] },
    { line_items: [{ title: "Widget", soldBy: { name: "EVIL CORP" } }] },
    { products: [{ name: "Widget", store: { id: "s-9", name: "Evil Corp" } }] },
    { subMerchants: [{ id: "SM1", name: "EVIL CORP", mcc: "5411" }] },
    { additionalData: { "subMerchant.numberOfSubSellers": "1", "subMerchant.subSeller1.name": "Evil Corp" } },
  ].map(
    (params): Case => ({
      name: `an owner's or a marketplace party's name in ${JSON.stringify(params)} under a blocklist of it: DENY`,
      manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  ...[
    { merchant: { name: "Good Shop", products: [{ name: "Evil Corp" }], relationship: { owner: true } } },
    { shop: { name: "Good Shop", shop_owner: "Ann Smith" }, products: [{ name: "Evil Corp", sold_by: "Good Shop" }] },
  ].map(
    (params): Case => ({
      name: `a product named like a blocked party in ${JSON.stringify(params)} is no party: ALLOW`,
      manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  // A card statement shows the merchant's name, then what the acquirer adds (an order number, a city): a descriptor
  // whose leading words are a blocked name names that party, in the forms a blocklist compares names in (case, full
  // width, look-alikes, `Evil-Corp` as `evilcorp`), each `*` piece too. Not a name that merely contains the entry.
  ...[
    { list: ["Evil Corp"], params: { statement_descriptor: "EVIL CORP ORDER 12" } },
    { list: ["Evil Corp"], params: { calculated_statement_descriptor: "ACME* EVIL CORP 4411" } },
    { list: ["Evil Corp"], params: { purchase_units: [{ soft_descriptor: "\uff25\uff36\uff29\uff2c CORP BERLIN" }] } },
    { list: ["Evil Corp"], params: { statement_descriptor: "\u0415VIL CORP, LONDON" } },
    { list: ["Evil Corp"], params: { billing_descriptor: { name: "Evil Corp London", city: "London" } } },
    { list: ["Evil Corp"], params: { descriptor: { name: "EVIL CORP*ORDER 55", phone: "+15550100" } } },
    { list: ["evilcorp"], params: { statement_descriptor: "EVIL CORP ORDER 12" } },
    { list: ["evilcorp"], params: { statement_descriptor: "EVIL-CORP 4411 BERLIN" } },
    { list: ["evil corp*"], params: { statement_descriptor: "EVIL CORPORATION 12" } },
    // An entry of more words than a statement usually leads with (8) is still matched by as many.
    {
      list: ["Evil Corporation of Greater London Trading and Holding Company"],
      params: { statement_descriptor: "EVIL CORPORATION OF GREATER LONDON TRADING AND HOLDING COMPANY 12" },
    },
  ].map(
    ({ list, params }): Case => ({
      name: `a statement descriptor led by a blocked name (${JSON.stringify(params)}) under ${JSON.stringify(list)}: DENY`,
      manifest: paymentsBot({ counterparty_blocklist: list }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  ...[
    { list: ["evilcorp"], params: { statement_descriptor: "NOTEVILCORP ORDER 12" } },
    { list: ["evilcorp"], params: { statement_descriptor: "EVILCORPORATION 12" } },
    { list: ["Evil Corp"], params: { statement_descriptor: "EVIL CORPORATION 12" } },
    { list: ["Evil Corp"], params: { statement_descriptor: "NOT EVIL CORP 12" } },
    { list: ["Evil Corp"], params: { statement_descriptor: "GOOD CORP* EVIL 12" } },
  ].map(
    ({ list, params }): Case => ({
      name: `a statement descriptor not led by a blocked name (${JSON.stringify(params)}) under ${JSON.stringify(list)}: ALLOW`,
      manifest: paymentsBot({ counterparty_blocklist: list }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  // A name is also judged as a reader of Latin letters sees it (look-alike letters, dotless ı, accents and
  // invisible characters are read through); a name in another script is read as it is and never refused for it.
  ...[
    { merchant_name: "\u0415vil Corp" },
    { vendor: { name: "Evil C\u043erp", id: "v-1" } },
    { to: "ceo@x.example", to_name: "E\u200bvil Corp" },
    { merchant_name: "Ev\u0131L Corp" },
    { merchant_name: "Evi\u0301l Corp" },
  ].map(
    (params): Case => ({
      name: `a look-alike party name in ${JSON.stringify(params)} under a blocklist: DENY`,
      manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  ...[
    { merchant_name: "\u0420\u043e\u043c\u0430\u0448\u043a\u0430 Ltd" },
    { merchant_name: "\u30b9\u30bf\u30fc\u30d0\u30c3\u30af\u30b9" },
    { merchant_name: "\u30bd\u30cb\u30fc\u682a\u5f0f\u4f1a\u793e" },
    { merchant_name: "LG\uc804\uc790" },
    { merchant_name: "\u5c0f\u7c73Xiaomi" },
    { customer: { name: "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627" } },
    { merchant_name: "\u0dc1\u0dca\u200d\u0dbb\u0dd3 \u0dbd\u0d82\u0d9a\u0dcf" },
  ].map(
    (params): Case => ({
      name: `an honest party name in another script (${JSON.stringify(params)}) under a blocklist: ALLOW`,
      manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  {
    name: "a look-alike party name under an allowlist only: the account is judged, not the name",
    manifest: paymentsBot({ counterparty_allowlist: ["DE00"] }),
    request: { action: { ...wire, params: { iban: "DE00", merchant_name: "\u0415vil Corp" } } },
    decision: "ALLOW",
    codes: [],
  },
  // A name is no proof of whom the connector reaches: an allowlist judges the account, never the name beside it.
  {
    name: "a party's name is no recipient under an allowlist",
    manifest: paymentsBot({ counterparty_allowlist: ["DE00"] }),
    request: {
      action: {
        ...wire,
        params: {
          iban: "DE00",
          merchant_name: "Anyone",
          vendor: { name: "Any Vendor", id: 7, accounts: [{ name: "Any Account" }] },
          merchant: { profile: { name: "Any Profile" } },
          statement_descriptor: "ANY* SHOP",
        },
      },
    },
    decision: "ALLOW",
    codes: [],
  },
  ...[
    { counterparty_allowlist: ["*@acme.example", "DE00"], decision: "ALLOW" as const },
    {
      counterparty_allowlist: ["*@acme.example", "DE00"],
      counterparty_blocklist: ["evil corp"],
      decision: "DENY" as const,
    },
  ].flatMap(({ decision, ...policy }) =>
    [{ to: "Evil Corp <ceo@acme.example>" }, { to: [{ email: "ceo@acme.example", name: "Evil Corp" }] }].map(
      (params): Case => ({
        name: `an allowlisted mailbox named ${JSON.stringify(params)} under ${JSON.stringify(policy)}: ${decision}`,
        manifest: paymentsBot(policy),
        request: { action: { ...wire, params: { iban: "DE00", ...params } } },
        decision,
        codes: decision === "ALLOW" ? [] : ["COUNTERPARTY_BLOCKED"],
        ...(decision === "ALLOW" ? {} : { check: "counterparty_check" }),
      }),
    ),
  ),
  ...['"boss@evil.example" <ok@acme.example>', "boss@evil.example <ok@acme.example>", "Bob <boss@evil.example"].map(
    (notify): Case => ({
      name: `an address in a display name under any key (${JSON.stringify(notify)}) is a recipient`,
      manifest: paymentsBot({ counterparty_blocklist: ["*@evil.example"] }),
      request: { action: { ...wire, params: { iban: "DE00", notify } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  // RFC 5322 comments and groups name their addresses to a parser (Python's getaddresses) under any key (R15).
  ...[
    "boss@evil.example (Boss)",
    "(Boss) boss@evil.example",
    "team: boss@evil.example;",
    "ok@acme.example, boss@evil.example (c)",
    "boss(c)@evil.example",
    "boss@evil.example (Boss (the) one)",
    "boss@evil.example (Boss",
    // R17: a quoted display name without angle brackets, and a comment left open before the address.
    '"Boss" boss@evil.example',
    '"x(" boss@evil.example',
    "(unclosed boss@evil.example",
    'ok@acme.example, "Boss" boss@evil.example',
    "(Boss) boss@evil.example <ok@acme.example>",
    // A header line's group: its `To:` is no group name, and the group's member is a recipient.
    "To: team: boss@evil.example;",
    "Bcc: team: boss@evil.example",
    "Cc: a: b: boss@evil.example;",
  ].map(
    (notify): Case => ({
      name: `an address with a comment or in a group under any key (${JSON.stringify(notify)}) is a recipient`,
      manifest: paymentsBot({ counterparty_blocklist: ["*@evil.example"] }),
      request: { action: { ...wire, params: { iban: "DE00", notify } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  // Prose stays prose: a comment removed leaves words around the address, and a subject's `Re:` is no group.
  ...[
    "write to jane@customer.example (urgent) today",
    "Re: jane@customer.example",
    "Notes (draft): ask jane@customer.example; then close",
    'He said "yes" to jane@customer.example',
  ].map(
    (subject): Case => ({
      name: `prose that mentions an address (${JSON.stringify(subject)}) names no recipient`,
      manifest: paymentsBot({ counterparty_allowlist: ["DE00"] }),
      request: { action: { ...wire, params: { iban: "DE00", subject } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  {
    name: "a known mailbox under a display name is known: no new counterparty",
    manifest: paymentsBot({ escalate_new_counterparties: true }),
    request: { action: { ...wire, params: { iban: "DE00", to: "Bob <a@acme.example>" } } },
    prepare: (e) => {
      e.counterparties.remember(ORG, "customer-support-bot", "a@acme.example", new Date());
      e.counterparties.remember(ORG, "customer-support-bot", "DE00", new Date());
    },
    decision: "ALLOW",
    codes: [],
  },
  ...[
    { to: "Bob <a@acme.example>, c@acme.example", decision: "ALLOW" as const },
    { to: '"a@acme.example" <evil@x.example>', decision: "DENY" as const },
  ].map(
    ({ to, decision }): Case => ({
      name: `a mail list string ${JSON.stringify(to)} under the token's allowed_recipients: ${decision}`,
      request: { action: { type: "email", tool: "send", params: { to, subject: "Hi" } } },
      prepare: async (e) => ({
        capability_token: (await issue(e, ["email:send"], { allowed_recipients: ["*@acme.example"] })).token,
      }),
      decision,
      codes: decision === "ALLOW" ? [] : ["COUNTERPARTY_BLOCKED"],
      ...(decision === "ALLOW" ? {} : { check: "counterparty_check" }),
    }),
  ),
  // A payee's postal address is where it is, not who it is: its street, city and code are no counterparties.
  ...[
    { counterparty_allowlist: ["Acme", "DE89370400440532013000"], decision: "ALLOW" as const },
    { escalate_new_counterparties: true, decision: "ALLOW" as const },
    { counterparty_blocklist: ["Berlin", "1 Main St", "10115"], decision: "ALLOW" as const },
    { jurisdiction_blocklist: ["DE"], decision: "DENY" as const },
  ].map(
    ({ decision, ...policy }): Case => ({
      name: `a payee's postal address under ${JSON.stringify(policy)}: ${decision}`,
      manifest: paymentsBot(policy),
      request: {
        action: {
          ...wire,
          params: {
            payee: {
              name: "Acme",
              iban: "DE89370400440532013000",
              address: { line1: "1 Main St", line2: null, city: "Berlin", postal_code: "10115", country: "DE" },
            },
          },
        },
      },
      prepare: (e) => {
        e.counterparties.remember(ORG, "customer-support-bot", "Acme", new Date());
        e.counterparties.remember(ORG, "customer-support-bot", "DE89370400440532013000", new Date());
      },
      decision,
      codes: decision === "ALLOW" ? [] : ["JURISDICTION_BLOCKED"],
      ...(decision === "ALLOW" ? {} : { check: "jurisdiction_check" }),
    }),
  ),
  // So is a mail recipient's, a list of postal addresses, and PayPal's and Adyen's members of one.
  ...[
    { recipient: { name: "Acme", address: { line1: "1 Main St", city: "Berlin", postal_code: "10115" } } },
    { payee: { name: "Acme", addresses: [{ line1: "1 Main St" }, { line1: "2 Side St", city: "Bonn" }] } },
    { payee: { name: "Acme", address: { address_line_1: "1 Main St", admin_area_2: "Berlin", postal_code: "1" } } },
    { payee: { name: "Acme", billingAddress: { street: "Main", houseNumberOrName: "1", stateOrProvince: "BE" } } },
  ].flatMap((params) =>
    [{ counterparty_allowlist: ["Acme", "DE00"] }, { escalate_new_counterparties: true }].map(
      (policy): Case => ({
        name: `a recipient's postal address (${JSON.stringify(params)}) under ${JSON.stringify(policy)}: ALLOW`,
        manifest: paymentsBot(policy),
        request: { action: { ...wire, params: { iban: "DE00", ...params } } },
        prepare: (e) => {
          e.counterparties.remember(ORG, "customer-support-bot", "Acme", new Date());
          e.counterparties.remember(ORG, "customer-support-bot", "DE00", new Date());
        },
        decision: "ALLOW",
        codes: [],
      }),
    ),
  ),
  // Not a postal address alone: counted, as before. A wallet's `address` string, a name or an object beside the
  // postal members, a member in another script, postal members under a key that names no address, a list.
  ...[
    { destination: { address: "0xEVIL", chain: "ETH" } },
    { wallet: { address: "0xEVIL" } },
    { payee: { name: "Acme", address: { line1: "1 Main St", attention: "Evil Corp" } } },
    { payee: { name: "Acme", address: { line1: "1 Main St", city: { name: "Evil Corp" } } } },
    { payee: { name: "Acme", address: { line1: "1 Main St", cіty: "Evil Corp" } } },
    { payee: { name: "Acme", account: { city: "Evil Corp" } } },
    { payee: { name: "Acme", address: { line1: "evil@x.example" } } },
    { payee: { name: "Acme", address: [{ line1: "1 Main St" }, { line1: "1 Main St", attention: "Evil Corp" }] } },
    { recipient: { name: "Acme", address: { line1: "1 Main St" } }, to: { line1: "Evil Corp" } },
  ].map(
    (params): Case => ({
      name: `a party's member that is no postal address alone (${JSON.stringify(params)}) is a recipient`,
      manifest: paymentsBot({ counterparty_allowlist: ["Acme", "DE00", "1 Main St"] }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  ...[
    { Destination: { ToAddresses: ["boss@evil.example"] } },
    { Destination: { BccAddresses: ["boss@evil.example"] } },
    { message: { toRecipients: ["boss@evil.example"] } },
    { to_email: "boss@evil.example" },
    { cc_list: ["boss@evil.example"] },
  ].map(
    (params): Case => ({
      name: `a recipient under a compound key (${JSON.stringify(params)}) is checked`,
      manifest: paymentsBot({ counterparty_allowlist: ["*@acme.example"] }),
      request: { action: { ...wire, counterparty: "ann@acme.example", params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  ...[
    { beneficiary_country: "KP" },
    { bankCountryCode: "KP" },
    { payee: { country_iso2: "KP" } },
    { shipping: { countryAlpha3: "PRK" } },
    { settlement_jurisdiction: "KP" },
  ].map(
    (params): Case => ({
      name: `a jurisdiction under a compound key (${JSON.stringify(params)}) is checked`,
      manifest: paymentsBot({ jurisdiction_blocklist: ["KP"] }),
      request: { action: { ...wire, jurisdiction: "DE", params: { iban: "DE00", ...params } } },
      decision: "DENY",
      codes: ["JURISDICTION_BLOCKED"],
      check: "jurisdiction_check",
    }),
  ),
  {
    name: "missing counterparty fails closed",
    manifest: paymentsBot({ counterparty_allowlist: ["acme-*"] }),
    request: { action: wire },
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  {
    name: "recipient outside the token's allowed_recipients",
    prepare: async (e) => ({
      capability_token: (await issue(e, ["email:send"], { allowed_recipients: ["*@acme.com"] })).token,
    }),
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  ...[{ counterparty_id: "cp_EVIL" }, { targetAccount: 666 }].map(
    (params): Case => ({
      name: `a counterparty under ${JSON.stringify(params)} is judged by the token's allowed_recipients`,
      manifest: paymentsBot({}),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      prepare: async (e) => ({
        capability_token: (await issue(e, ["payment:wire"], { allowed_recipients: ["DE00"] })).token,
      }),
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  {
    name: "missing amount under a threshold fails closed",
    manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR", actions: ["payment:wire"] } }),
    request: { action: wire },
    decision: "DENY",
    codes: ["AMOUNT_UNVERIFIABLE"],
    check: "amount_threshold",
  },
  {
    // PayPal's and Google's money shape: `{value, currency_code}`. A top-level `currency` beside it must not stand for it.
    name: "an amount whose currency_code is another currency fails closed",
    manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR" } }),
    request: {
      action: { ...wire, params: { iban: "DE00", currency: "EUR", amount: { value: "999", currency_code: "KWD" } } },
    },
    decision: "DENY",
    codes: ["AMOUNT_UNVERIFIABLE"],
    check: "amount_threshold",
  },
  // PayPal's v2 and Google's money object, `{value, currency_code}`, under a key no amount rule reads or as the
  // params themselves, is the amount (R6); one read as an amount already counts once.
  ...[
    { params: { payment: { value: "5000", currency_code: "EUR" } }, decision: "ESCALATE" as const },
    { params: { value: 5000, currency: "EUR" }, decision: "ESCALATE" as const },
    {
      params: { order: { lines: [{ cost: { value: "60", currency: "EUR" }, quantity: 2 }] } },
      decision: "ESCALATE" as const,
    },
    { params: { amount: 50, currency: "EUR", value: 5000 }, decision: "DENY" as const },
    { params: { amount: { value: "50", currency_code: "EUR" } }, decision: "ALLOW" as const },
    {
      params: {
        amounts: [
          { value: 30, currency: "EUR" },
          { value: 30, currency: "EUR" },
        ],
      },
      decision: "ALLOW" as const,
    },
    { params: { price: { value: 90, currency: "EUR" } }, decision: "ALLOW" as const },
    { params: { amount: 50, currency: "EUR", meta: { value: "high" } }, decision: "ALLOW" as const },
    // Google's Money: whole units and billionths, under any key.
    { params: { price: { currency_code: "EUR", units: "5000", nanos: 0 } }, decision: "ESCALATE" as const },
    { params: { budget: { currencyCode: "EUR", units: "100", nanos: 1 } }, decision: "ESCALATE" as const },
    { params: { budget: { currencyCode: "EUR", units: "99", nanos: 990000000 } }, decision: "ALLOW" as const },
    { params: { budget: { currencyCode: "EUR", units: "99", nanos: 1e12 } }, decision: "DENY" as const },
    { params: { line: { currency: "EUR", units: 3, amount: 20 } }, decision: "ALLOW" as const },
  ].map(
    ({ params, decision }): Case => ({
      name: `a money object ${JSON.stringify(params)} under 100 EUR: ${decision}`,
      manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision,
      codes: { ALLOW: [], ESCALATE: ["AMOUNT_THRESHOLD"], DENY: ["AMOUNT_UNVERIFIABLE"] }[decision],
      ...(decision === "ALLOW" ? {} : { check: "amount_threshold" }),
    }),
  ),
  // PayPal's v1 money object: `amount: {total, currency, details}`. Its total is the amount (with a subtotal beside
  // it, summed); one that is no number still fails closed.
  ...[
    { amount: { total: "30.11", currency: "USD" }, decision: "ALLOW" as const },
    {
      amount: { total: "30.11", currency: "USD", details: { subtotal: "30.00", tax: "0.11" } },
      decision: "ALLOW" as const,
    },
    { amount: { total: "5000.00", currency: "USD", details: { subtotal: "1.00" } }, decision: "ESCALATE" as const },
    { amount: { total: "1.00", value: "5000", currency: "USD" }, decision: "ESCALATE" as const },
    { amount: { total: "five thousand", currency: "USD" }, decision: "DENY" as const },
    { amount: { total: "1.00", currency: "KWD" }, decision: "DENY" as const },
    // Any other member keeps the object one amount (R8): read as Google's Money (units) or failing closed, never 1.
    { amount: { total: "1.00", currency_code: "USD", units: "5000", nanos: 0 }, decision: "ESCALATE" as const },
    { amount: { total: "1.00", currency: "USD", cents: 500000 }, decision: "DENY" as const },
    { amount: { total: "1.00", currency: "USD", details: "5000" }, decision: "DENY" as const },
  ].map(
    ({ decision, ...params }): Case => ({
      name: `PayPal v1 ${JSON.stringify(params)} under 100 USD: ${decision}`,
      manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "USD" } }),
      request: { action: { ...wire, params: { iban: "DE00", ...params } } },
      decision,
      codes: { ALLOW: [], ESCALATE: ["AMOUNT_THRESHOLD"], DENY: ["AMOUNT_UNVERIFIABLE"] }[decision],
      ...(decision === "ALLOW" ? {} : { check: "amount_threshold" }),
    }),
  ),
  ...[
    { amount_currency: "KWD" },
    { payout_currency: "KWD" },
    { targetCurrency: "KWD" },
    { money: { currency_iso: "KWD" } },
    { ccy: "KWD" },
  ].map(
    (params): Case => ({
      // 99.99 KWD is about 325 USD: the amount is in no single currency the policy can judge it in.
      name: `an amount beside a currency under ${JSON.stringify(params)} fails closed`,
      manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "USD" } }),
      request: { action: { ...wire, amount: 99.99, currency: "USD", params: { amount: 99.99, ...params } } },
      decision: "DENY",
      codes: ["AMOUNT_UNVERIFIABLE"],
      check: "amount_threshold",
    }),
  ),
  {
    name: "an amount beside a currencyCode of another currency fails closed",
    manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR" } }),
    request: { action: { ...wire, amount: 999, currency: "EUR", params: { amount: 999, currencyCode: "KWD" } } },
    decision: "DENY",
    codes: ["AMOUNT_UNVERIFIABLE"],
    check: "amount_threshold",
  },
  ...[
    { total_amount: 5000 },
    { transfer: { transferAmount: "5000" } },
    { transfer: { amount_cents: 500000 } },
    { transfer: { amountInMinorUnits: 500000 } },
    { payout_amounts: [50, 5000] },
  ].map(
    (params): Case => ({
      name: `an amount under a compound key (${JSON.stringify(params)}) is judged`,
      manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR", actions: ["payment:wire"] } }),
      request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", amount: 50, ...params } } },
      decision: "ESCALATE",
      codes: ["AMOUNT_THRESHOLD"],
      check: "amount_threshold",
    }),
  ),
  // Money under the other words shop and payment APIs use (./money-keys.ts): under a threshold that lists no actions,
  // such an action carried "no amount" and passed unjudged.
  ...[
    { price: 5000 },
    { unit_price: "5000.00" },
    { order: { totalPrice: 5000 } },
    { shipping_fee: 5000 },
    { fees: [1, 5000] },
    { grand_total: { value: "5000", currency_code: "EUR" } },
    { price_cents: 500000 },
    { cost: "5000" },
  ].map(
    (params): Case => ({
      name: `money under a price/fee/cost/total key (${JSON.stringify(params)}) is judged`,
      manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR" } }),
      request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", ...params } } },
      decision: "ESCALATE",
      codes: ["AMOUNT_THRESHOLD"],
      check: "amount_threshold",
    }),
  ),
  // A line item's quantity multiplies its price: 10 × 50 moves 500, and an order's quantity multiplies its lines.
  ...[
    { items: [{ sku: "a", unit_price: 10, quantity: 50 }] },
    { line_items: [{ price_data: { unit_amount: 20, currency: "EUR" }, quantity: 10 }] },
    { order: { qty: 3, lines: [{ price: "40", quantity: "2" }] } },
  ].map(
    (params): Case => ({
      name: `an amount times its quantity (${JSON.stringify(params)}) is judged`,
      manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
      request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", ...params } } },
      decision: "ESCALATE",
      codes: ["AMOUNT_THRESHOLD"],
      check: "amount_threshold",
    }),
  ),
  // A quantity below 1 never lowers what is judged: the upstream may ignore it and move the amount as written.
  ...[
    { amount: 5000, quantity: 0 },
    { amount: "5000", quantity: "0" },
    { payment: { amount: 5000 }, quantity: 0 },
    { total: 5000, quantity: 0.001 },
    { amt: 5000 },
    { charge: 5000 },
  ].map(
    (params): Case => ({
      name: `5,000 beside a small quantity or under another money word (${JSON.stringify(params)}) escalates`,
      manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
      request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", ...params } } },
      decision: "ESCALATE",
      codes: ["AMOUNT_THRESHOLD"],
      check: "amount_threshold",
    }),
  ),
  {
    // A declared amount path the walk does not read keeps the quantity around it: 10 × 500 is 5,000.
    name: "a declared amount is multiplied by the quantity beside it",
    manifest: {
      ...paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
      tools: {
        "payment:wire": { connector: { type: "noop" }, amount_params: ["line.unit"] },
        "email:send": { connector: { type: "echo" } },
      },
    },
    request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", line: { unit: 10, quantity: 500 } } } },
    decision: "ESCALATE",
    codes: ["AMOUNT_THRESHOLD"],
    check: "amount_threshold",
  },
  ...[{ quantity: "lots" }, { quantity: 1, QTY: 50 }, { quantity: Number.POSITIVE_INFINITY }].map(
    (quantity): Case => ({
      name: `an amount beside a quantity no policy can read (${JSON.stringify(quantity)}) fails closed`,
      manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
      request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", items: [{ price: 10, ...quantity }] } } },
      decision: "DENY",
      codes: ["AMOUNT_UNVERIFIABLE"],
      check: "amount_threshold",
    }),
  ),
  {
    // A price written so no policy can read it is money all the same: fail closed.
    name: "a price the policy cannot read fails closed under a threshold",
    manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR" } }),
    request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", price: "€5.000,00" } } },
    decision: "DENY",
    codes: ["AMOUNT_UNVERIFIABLE"],
    check: "amount_threshold",
  },
  {
    // A tool that declares its amount path is judged on it once, not once per rule that reads it (120, not 240).
    name: "a declared amount path the walk reads too counts once",
    manifest: {
      ...paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
      tools: {
        "payment:wire": { connector: { type: "noop" }, amount_params: ["price"] },
        "email:send": { connector: { type: "echo" } },
      },
    },
    request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", price: 60 } } },
    decision: "ALLOW",
    codes: [],
  },
  // An order that states its lines, its subtotal and its total is judged at their sum (180) unless the operator says
  // where the upstream reads the amount: then at that place alone, and still above the threshold when it is.
  ...[
    { tool: {}, total: 60, decision: "ESCALATE" as const },
    { tool: { amount_params: ["order.total_price"], amount_params_only: true }, total: 60, decision: "ALLOW" as const },
    {
      tool: { amount_params: ["order.total_price"], amount_params_only: true },
      total: 150,
      decision: "ESCALATE" as const,
    },
    { tool: { amount_params_only: true }, total: 60, decision: "DENY" as const },
  ].map(
    ({ tool, total, decision }): Case => ({
      name: `an order of total ${total} with lines and a subtotal, tool ${JSON.stringify(tool)}: ${decision}`,
      manifest: {
        ...paymentsBot({ amount_threshold: { amount: 100, currency: "EUR", actions: ["payment:wire"] } }),
        tools: {
          "payment:wire": { connector: { type: "noop" }, ...tool },
          "email:send": { connector: { type: "echo" } },
        },
      },
      request: {
        action: {
          ...wire,
          params: {
            iban: "DE00",
            currency: "EUR",
            order: { line_items: [{ price: 30 }, { price: 30 }], subtotal_price: 60, total_price: total },
          },
        },
      },
      decision,
      codes: { ALLOW: [], ESCALATE: ["AMOUNT_THRESHOLD"], DENY: ["AMOUNT_UNVERIFIABLE"] }[decision],
      ...(decision === "ALLOW" ? {} : { check: "amount_threshold" }),
    }),
  ),
  // A tool whose upstream sends only to its declared recipients: a file `destination` is no counterparty, while
  // the declared place is still judged.
  ...[
    { iban: "acme-vendor", destination: "/srv/reports/q3.pdf", decision: "ALLOW" as const },
    { iban: "evil-corp", destination: "/srv/reports/q3.pdf", decision: "DENY" as const },
    { iban: "acme-vendor", destination: "/srv/reports/q3.pdf", to: "x@evil.example", decision: "ALLOW" as const },
  ].map(
    ({ decision, ...params }): Case => ({
      name: `recipient_params_only judges only the declared recipient (${JSON.stringify(params)}): ${decision}`,
      manifest: {
        ...paymentsBot({ counterparty_allowlist: ["acme-vendor"] }),
        tools: {
          "payment:wire": { connector: { type: "noop" }, recipient_params: ["iban"], recipient_params_only: true },
          "email:send": { connector: { type: "echo" } },
        },
      },
      request: { action: { ...wire, params } },
      decision,
      codes: decision === "ALLOW" ? [] : ["COUNTERPARTY_BLOCKED"],
      ...(decision === "ALLOW" ? {} : { check: "counterparty_check" }),
    }),
  ),
  // What is inside a declared place counts as it would anywhere (R8), and a declared place the agent leaves out
  // leaves the walk's findings standing.
  ...[
    { paths: ["to", "iban"], params: { iban: "DE00", to: { email: "bob@acme.example", bcc: ["eve@evil.example"] } } },
    { paths: ["payee", "iban"], params: { iban: "DE00", payee: { email: "bob@acme.example", iban: "GB33EVIL" } } },
    { paths: ["recipients"], params: { recipients: [{ email: "bob@acme.example", cc: "eve@evil.example" }] } },
    { paths: ["iban"], params: { to: "eve@evil.example" } },
  ].map(
    ({ paths, params }): Case => ({
      name: `recipient_params_only ${JSON.stringify(paths)} still judges ${JSON.stringify(params)}`,
      manifest: {
        ...paymentsBot({ counterparty_allowlist: ["*@acme.example", "DE00"] }),
        tools: {
          "payment:wire": { connector: { type: "noop" }, recipient_params: paths, recipient_params_only: true },
          "email:send": { connector: { type: "echo" } },
        },
      },
      request: { action: { ...wire, params } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  {
    // A place is a whole key: `params.tos` is not inside the declared `params.to`.
    name: "recipient_params_only keeps what lies inside a declared place, not what shares its name's prefix",
    manifest: {
      ...paymentsBot({ counterparty_allowlist: ["*@acme.example"] }),
      tools: {
        "payment:wire": { connector: { type: "noop" }, recipient_params: ["to"], recipient_params_only: true },
        "email:send": { connector: { type: "echo" } },
      },
    },
    request: { action: { ...wire, params: { to: ["a@acme.example"], tos: "eve@evil.example" } } },
    decision: "ALLOW",
    codes: [],
  },
  {
    name: "a declared recipient place is a party's: every member of an object there counts",
    manifest: {
      ...paymentsBot({ counterparty_allowlist: ["*@acme.example", "DE00"] }),
      tools: {
        "payment:wire": { connector: { type: "noop" }, recipient_params: ["payee_info"] },
        "email:send": { connector: { type: "echo" } },
      },
    },
    request: {
      action: { ...wire, params: { iban: "DE00", payee_info: { account: "GB33EVIL", email: "b@acme.example" } } },
    },
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  ...[{ max_amount_per_hour: undefined }, { max_amount_per_hour: { amount: 100, currency: "USD" } }].map(
    (constraints): Case => ({
      name: `amount_params_only whose declared place is left out judges the walk's amounts (${JSON.stringify(constraints)})`,
      manifest: {
        ...paymentsBot(constraints.max_amount_per_hour ? {} : { amount_threshold: { amount: 100, currency: "USD" } }),
        ...(constraints.max_amount_per_hour
          ? { constraints: { max_amount_per_hour: constraints.max_amount_per_hour } }
          : {}),
        tools: {
          "payment:wire": {
            connector: { type: "noop" },
            amount_params: ["order.total_price"],
            amount_params_only: true,
          },
          "email:send": { connector: { type: "echo" } },
        },
      },
      request: {
        action: { ...wire, params: { iban: "DE00", currency: "USD", order: { line_items: [{ price: 5000 }] } } },
      },
      decision: constraints.max_amount_per_hour ? "DENY" : "ESCALATE",
      codes: constraints.max_amount_per_hour ? ["BUDGET_EXCEEDED"] : ["AMOUNT_THRESHOLD"],
      check: constraints.max_amount_per_hour ? "budget_check" : "amount_threshold",
    }),
  ),
  {
    name: "without recipient_params_only a file destination is judged as where money lands",
    manifest: paymentsBot({ counterparty_allowlist: ["acme-vendor"] }),
    request: { action: { ...wire, params: { iban: "acme-vendor", destination: "/srv/reports/q3.pdf" } } },
    decision: "DENY",
    codes: ["COUNTERPARTY_BLOCKED"],
    check: "counterparty_check",
  },
  // Decimal strings are compared exactly: the double nearest to each of these is the threshold itself, but an
  // upstream parsing them as decimals moves more than it.
  ...[
    { amount: "100.000000000000001" },
    { amount: "100.0000000000000000000000000001" },
    { amount: { value: "100.000000000000001" } },
    { amounts: ["99", "100.000000000000001"] },
    { amount: "１００.０００００００００００００００１" },
  ].map(
    (params): Case => ({
      name: `an amount a hair above the threshold (${JSON.stringify(params)}) escalates`,
      manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
      request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", ...params } } },
      decision: "ESCALATE",
      codes: ["AMOUNT_THRESHOLD"],
      check: "amount_threshold",
    }),
  ),
  ...[{ amount: "100.000000000000000" }, { amount: "0100" }, { amount: 100 }, { amount: "99.999999999999999999" }].map(
    (params): Case => ({
      name: `an amount at or below the threshold (${JSON.stringify(params)}) is allowed`,
      manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
      request: { action: { ...wire, params: { iban: "DE00", currency: "EUR", ...params } } },
      decision: "ALLOW",
      codes: [],
    }),
  ),
  // The threshold judges the action's total: one action cannot move more than it in pieces under it.
  ...[
    { params: { amounts: [99, 99, 99, 99, 99] }, above: true },
    { params: { amounts: [99, 99, 99, 99, 99] }, amount: 495, above: true },
    { params: { amounts: [99, 99, 99, 99, 99] }, amount: 99, above: true },
    { params: { payments: [{ amount: "60" }, { amount: "40.000000000000000001" }] }, above: true },
    { params: { amounts: ["0.1", "0.2"] }, threshold: 0.2, above: true },
    { params: { amounts: [30, 30, 40] }, above: false },
    { params: { amounts: [30, 30, 40] }, amount: 100, above: false },
    { params: { amounts: ["0.1", "0.2"] }, threshold: 0.3, above: false },
  ].map(
    ({ params, amount, threshold = 100, above }): Case => ({
      name: `amounts whose total is ${above ? "above" : "at or below"} the threshold (${JSON.stringify({ params, amount })})`,
      manifest: paymentsBot({ amount_threshold: { amount: threshold, currency: "EUR" } }),
      request: {
        action: {
          ...wire,
          ...(amount !== undefined && { amount }),
          params: { iban: "DE00", currency: "EUR", ...params },
        },
      },
      ...(above
        ? { decision: "ESCALATE", codes: ["AMOUNT_THRESHOLD"], check: "amount_threshold" }
        : { decision: "ALLOW", codes: [] }),
    }),
  ),
  {
    name: "a declared amount that is neither each amount nor their total fails closed",
    manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR" } }),
    request: { action: { ...wire, amount: 60, currency: "EUR", params: { iban: "DE00", amounts: [30, 30, 40] } } },
    decision: "DENY",
    codes: ["AMOUNT_UNVERIFIABLE"],
    check: "amount_threshold",
  },
  {
    name: "a declared amount differs from params that are a hair above it",
    manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
    request: {
      action: { ...wire, amount: 100, currency: "EUR", params: { iban: "DE00", amount: "100.000000000000001" } },
    },
    decision: "DENY",
    codes: ["AMOUNT_UNVERIFIABLE"],
    check: "amount_threshold",
  },
  {
    name: "value and VALUE a hair apart fail closed",
    manifest: paymentsBot({ amount_threshold: { amount: 100, currency: "EUR" } }),
    request: {
      action: {
        ...wire,
        params: { iban: "DE00", currency: "EUR", amount: { value: "50", VALUE: "50.000000000000001" } },
      },
    },
    decision: "DENY",
    codes: ["AMOUNT_UNVERIFIABLE"],
    check: "amount_threshold",
  },
  {
    name: "amount in another currency fails closed",
    manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR" } }),
    request: { action: { ...wire, amount: 10, currency: "USD" } },
    decision: "DENY",
    codes: ["AMOUNT_UNVERIFIABLE"],
    check: "amount_threshold",
  },
  {
    name: "crm:delete requires approval (seed)",
    request: { action: { type: "crm", tool: "delete", params: { record_id: "rec-123" } } },
    decision: "ESCALATE",
    codes: ["REQUIRES_APPROVAL"],
    check: "approval_check",
  },
  {
    name: "amount above threshold",
    manifest: paymentsBot({ amount_threshold: { amount: 1000, currency: "EUR" } }),
    request: { action: { ...wire, amount: 1000.01, currency: "EUR" } },
    decision: "ESCALATE",
    codes: ["AMOUNT_THRESHOLD"],
    check: "amount_threshold",
  },
  {
    name: "new counterparty",
    manifest: paymentsBot({ escalate_new_counterparties: true }),
    request: { action: { ...wire, counterparty: "acme-gmbh" } },
    decision: "ESCALATE",
    codes: ["NEW_COUNTERPARTY"],
    check: "counterparty_check",
  },
  {
    name: "known counterparty passes",
    manifest: paymentsBot({ escalate_new_counterparties: true }),
    request: { action: { ...wire, counterparty: "acme-gmbh", params: { iban: "DE00" } } },
    prepare: (e) => {
      e.counterparties.remember(ORG, "customer-support-bot", "ACME-GmbH", new Date());
      e.counterparties.remember(ORG, "customer-support-bot", "DE00", new Date());
    },
    decision: "ALLOW",
    codes: [],
  },
  ...[
    { iban: "DE99" },
    { payee: "Evil Corp" },
    { beneficiary: { name: "Evil Corp", iban: "DE00" } },
    { counterparty_id: "cp_new" },
    { targetAccount: 12345, quoteUuid: "q-1" },
  ].map(
    (params): Case => ({
      // The declared counterparty is known, but the wire pays someone else: that party is the new one.
      name: `a known counterparty paying a new party under ${JSON.stringify(params)} escalates`,
      manifest: paymentsBot({ escalate_new_counterparties: true }),
      request: { action: { ...wire, counterparty: "acme-gmbh", params } },
      prepare: (e) => {
        e.counterparties.remember(ORG, "customer-support-bot", "ACME-GmbH", new Date());
        e.counterparties.remember(ORG, "customer-support-bot", "DE00", new Date());
      },
      decision: "ESCALATE",
      codes: ["NEW_COUNTERPARTY"],
      check: "counterparty_check",
    }),
  ),
  ...[{ payee: "Evil Corp" }, { payee_name: "EVIL  corp" }, { creditor: ["Good Inc", "Evil Corp"] }].map(
    (params): Case => ({
      name: `a blocked payee named under ${JSON.stringify(params)} is refused, whatever the declared counterparty`,
      manifest: paymentsBot({ counterparty_blocklist: ["Evil Corp"] }),
      request: { action: { ...wire, counterparty: "Good Inc", params } },
      decision: "DENY",
      codes: ["COUNTERPARTY_BLOCKED"],
      check: "counterparty_check",
    }),
  ),
  {
    // Its words are no counterparties of their own: "John Doe" is new although "John Smith" and "Jane Doe" are known.
    name: "a counterparty of several words is known only as a whole",
    manifest: paymentsBot({ escalate_new_counterparties: true }),
    request: { action: { ...wire, counterparty: "John Doe" } },
    prepare: async (e, request) => {
      await dealtWith(e, request, "John Smith");
      await dealtWith(e, request, "Jane Doe");
    },
    decision: "ESCALATE",
    codes: ["NEW_COUNTERPARTY"],
    check: "counterparty_check",
  },
  {
    name: "an IBAN in print format made of known groups is a new counterparty",
    manifest: paymentsBot({ escalate_new_counterparties: true }),
    request: { action: { ...wire, params: {}, counterparty: "DE12 3704 0044" } },
    prepare: async (e, request) => {
      await dealtWith(e, request, "DE12 1111 2222");
      await dealtWith(e, request, "DE89 3704 0044");
    },
    decision: "ESCALATE",
    codes: ["NEW_COUNTERPARTY"],
    check: "counterparty_check",
  },
  {
    name: "a known counterparty of several words passes, however it is spaced",
    manifest: paymentsBot({ escalate_new_counterparties: true }),
    request: { action: { ...wire, counterparty: "john   SMITH" } },
    prepare: (e, request) => dealtWith(e, request, "John Smith"),
    decision: "ALLOW",
    codes: [],
  },
  {
    name: "high-risk action",
    manifest: paymentsBot({ high_risk_actions: ["payment:wire"] }),
    request: { action: wire },
    decision: "ESCALATE",
    codes: ["HIGH_RISK_ACTION"],
    check: "approval_check",
  },
  {
    name: "escalations accumulate",
    manifest: paymentsBot({ high_risk_actions: ["payment:wire"], amount_threshold: { amount: 5, currency: "EUR" } }),
    request: { action: { ...wire, amount: 50, currency: "EUR" } },
    decision: "ESCALATE",
    codes: ["AMOUNT_THRESHOLD", "HIGH_RISK_ACTION"],
  },
  {
    name: "a later DENY wins over an earlier ESCALATE",
    manifest: paymentsBot({ amount_threshold: { amount: 5, currency: "EUR" }, jurisdiction_blocklist: ["KP"] }),
    request: { action: { ...wire, amount: 50, currency: "EUR", jurisdiction: "KP" } },
    decision: "DENY",
    codes: ["JURISDICTION_BLOCKED"],
    check: "jurisdiction_check",
  },
];

/** What execute remembers once an action with this counterparty ran: the counterparties its decision named. */
async function dealtWith(e: Setup, request: ActionRequest, counterparty: string): Promise<void> {
  const earlier = await decide(ORG, { ...request, action: { ...request.action, counterparty } }, e.deps);
  for (const c of earlier.counterparties) e.counterparties.remember(ORG, "customer-support-bot", c, e.now());
}

async function issue(
  e: Setup,
  capabilities: string[],
  constraints?: { max_actions?: number; allowed_recipients?: string[] },
) {
  return e.tokens.issue({
    orgId: ORG,
    issuerId: "ops@acme.com",
    issuedBy: "ops@acme.com",
    agentId: "customer-support-bot",
    manifest: e.manifests.getByUapkId(ORG, "customer-support-bot")!,
    capabilities,
    constraints,
  });
}

function exhaust(e: Setup, n: number) {
  const scope = BudgetCounters.hourlyScope(ORG, "customer-support-bot", "customer-support-bot");
  const window = BudgetCounters.hourWindow(e.now());
  for (let i = 0; i < n; i++) e.budgets.tryConsume([{ scope, window, limit: n }]);
}

/** An engine set up for the case, and the case's request. */
/** The PayPal v2 item cases, each under a threshold of 300 EUR and under an hourly money budget of 300 EUR. */
function paypalItemCases(): Case[] {
  const item = (unit_amount: unknown, quantity: unknown = "1") => ({ name: "Shirt", quantity, unit_amount });
  const order = (amount: unknown, items: unknown[]) => ({
    intent: "CAPTURE",
    purchase_units: [{ reference_id: "u1", ...(amount === undefined ? {} : { amount }), items }],
  });
  const honest = order({ ...eur("230.00"), breakdown: { item_total: eur("200.00"), tax_total: eur("30.00") } }, [
    { ...item(eur("50.00"), "2"), tax: eur("5.00") },
    { ...item(eur("100.00")), tax: eur("20.00") },
  ]);
  const over = [
    order(eur("10.00"), [item(eur("100.00"), "10")]),
    order(undefined, [item(eur("100.00"), "10")]),
    order({ ...eur("10.00"), breakdown: { item_total: eur("10.00") } }, [item(eur("100.00"), "10")]),
    order(eur("10.00"), [item({ ...eur("100.00"), quantity: "10" })]),
    order(eur("10.00"), [item(eur("1.00"), "1000000000000000000000")]),
  ];
  const unreadable: [string, object][] = [
    ...["1e309", "-5", "abc", "-0", "1,000.00", ""].map((value): [string, object] => [
      `value ${JSON.stringify(value)}`,
      order(eur("10.00"), [item(eur(value))]),
    ]),
    ["value -5 (a number)", order(eur("10.00"), [item({ currency_code: "EUR", value: -5 })])],
    ...["1e30", "-1", "2.5", "9".repeat(40)].map((quantity): [string, object] => [
      `quantity ${JSON.stringify(quantity)}`,
      order(eur("10.00"), [item(eur("1.00"), quantity)]),
    ]),
  ];
  const declaring = paymentsBot({ amount_threshold: { amount: 300, currency: "EUR" } });
  declaring.tools = {
    ...declaring.tools,
    "payment:wire": {
      connector: { type: "noop" },
      amount_params: ["purchase_units.items.unit_amount"],
      amount_params_only: true,
    },
  };
  const declared: Case = {
    name: "a declared PayPal unit_amount is multiplied by the quantity in it too",
    manifest: declaring,
    request: { action: { ...wire, params: { iban: "DE00", ...over[3] } } },
    decision: "ESCALATE",
    codes: ["AMOUNT_THRESHOLD"],
    check: "amount_threshold",
  };
  const limits = [
    { name: "threshold", manifest: paymentsBot({ amount_threshold: { amount: 300, currency: "EUR" } }) },
    {
      name: "hourly money budget",
      manifest: { ...paymentsBot({}), constraints: { max_amount_per_hour: { amount: 300, currency: "EUR" } } },
    },
  ];
  const underLimits = limits.flatMap(({ name, manifest }): Case[] => {
    const threshold = name === "threshold";
    const at = (params: object) => ({ action: { ...wire, params: { iban: "DE00", ...params } } });
    return [
      {
        name: `an honest PayPal order of 230 EUR under a ${name} of 300`,
        manifest,
        request: at(honest),
        decision: "ALLOW",
        codes: [],
      },
      ...over.map(
        (params): Case => ({
          name: `PayPal item money over a ${name} of 300 EUR (${JSON.stringify(params.purchase_units[0])})`,
          manifest,
          request: at(params),
          decision: threshold ? "ESCALATE" : "DENY",
          codes: [threshold ? "AMOUNT_THRESHOLD" : "BUDGET_EXCEEDED"],
          check: threshold ? "amount_threshold" : "budget_check",
        }),
      ),
      ...unreadable.map(
        ([what, params]): Case => ({
          name: `PayPal item money whose ${what} does not read under a ${name}: AMOUNT_UNVERIFIABLE`,
          manifest,
          request: at(params),
          decision: "DENY",
          codes: ["AMOUNT_UNVERIFIABLE"],
          check: threshold ? "amount_threshold" : "budget_check",
        }),
      ),
    ];
  });
  return [...underLimits, declared];
}

async function setUp(c: Case): Promise<{ e: Setup; request: ActionRequest }> {
  const e = await engine();
  if (c.manifest !== null) e.manifests.register(ORG, supportBot(c.manifest ?? {}));
  let request: ActionRequest = { ...emailRequest(), ...c.request };
  const extra = await c.prepare?.(e, request);
  if (extra) request = { ...request, ...extra };
  return { e, request };
}

/** The same stores, answering every read through a promise as a networked store does. */
function answeringLater(deps: PolicyDeps): PolicyDeps {
  return {
    ...deps,
    manifests: { getByUapkId: async (...args) => deps.manifests.getByUapkId(...args) },
    budgets: { current: async (...args) => deps.budgets.current(...args) },
    counterparties: { isKnown: async (...args) => deps.counterparties.isKnown(...args) },
  };
}

describe("policy pipeline: one case per reason code", () => {
  it.each(cases)("$name → $decision $codes", async (c) => {
    const { e, request } = await setUp(c);

    const d = await decide(ORG, request, e.deps, { now: e.now() });

    expect(d.decision).toBe(c.decision);
    expect(d.reasons.map((r) => r.code)).toEqual(c.codes);
    if (c.check) {
      const entry = d.policy_trace.checks.find((t) => t.check === c.check);
      expect(entry?.result).toBe(c.decision === "DENY" ? "fail" : "escalate");
    }
    // The first DENY stops the pipeline: it is the last trace entry.
    if (c.decision === "DENY") expect(d.policy_trace.checks.at(-1)?.result).toBe("fail");
    else
      expect(d.policy_trace.checks.map((t) => t.check)).toEqual([
        "manifest_validation",
        "capability_token",
        "action_type",
        "tool_authorization",
        "amount_threshold",
        "counterparty_check",
        "jurisdiction_check",
        "budget_check",
        "approval_check",
      ]);
  });

  // The checks answer at once when the stores do (the embedded SQLite store), and wait when a store answers
  // through a promise (PostgreSQL): either way, the same decision.
  it.each(cases)("$name: the same decision from stores that answer through promises", async (c) => {
    const { e, request } = await setUp(c);
    const atOnce = await decide(ORG, request, e.deps, { now: e.now() });
    expect(await decide(ORG, request, answeringLater(e.deps), { now: e.now() })).toEqual(atOnce);
  });

  it("reports the seed's budget message and details", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot());
    exhaust(e, 100);
    const d = await decide(ORG, emailRequest(), e.deps, { now: e.now() });
    expect(d.reasons).toEqual([{ code: "BUDGET_EXCEEDED", message: "Hourly action limit exceeded (100/100)" }]);
    expect(d.policy_trace.checks.at(-1)).toEqual({
      check: "budget_check",
      result: "fail",
      details: { current: 100, limit: 100 },
    });
    expect(d.risk_snapshot).toEqual({ budget_current: 100, budget_limit: 100, budget_percent: 100 });
  });

  it("reasons and trace details quote what an agent sent without its control, invisible and line-breaking characters", async () => {
    const e = await engine();
    // U+2028/U+2029 break the line a log or a JavaScript reader shows, as a newline would.
    const hostile = "\u202e\u0000\u001b\u200b\u2028\u2029";
    e.manifests.register(
      ORG,
      supportBot(
        paymentsBot({
          counterparty_allowlist: ["*@acme.example"],
          amount_threshold: { amount: 9, currency: "EUR" },
          jurisdiction_allowlist: ["DE"],
        }),
      ),
    );
    const sent = (params: Record<string, unknown>, action: Record<string, string> = {}, request = emailRequest()) =>
      decide(ORG, { ...request, action: { ...wire, ...action, params } }, e.deps, { now: e.now() });
    let separatorsShown = false;
    for (const d of [
      await sent({}, {}, emailRequest({ uapk_id: `bot${hostile}` })),
      await sent({}, {}, emailRequest({ agent_id: `bot${hostile}` })),
      await sent({}, { type: `payment${hostile}` }),
      await sent({}, { tool: `wire${hostile}` }),
      await sent({ amount: 5, currency: `EUR${hostile}` }),
      await sent({ [`t${hostile}o`]: "boss@evil.example" }),
      await sent({ [`country${hostile}`]: "atlantis", to: "ann@acme.example" }),
    ]) {
      expect(d.decision).toBe("DENY");
      const quoted: string[] = [];
      JSON.stringify([d.reasons, d.policy_trace], (_key, value) => {
        if (typeof value === "string") quoted.push(value);
        return value;
      });
      expect(quoted.filter((text) => /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(text))).toEqual([]);
      expect(quoted.some((text) => text.includes("\\u{202e}"))).toBe(true);
      separatorsShown ||= quoted.some((text) => text.includes("\\u{2028}\\u{2029}"));
    }
    // (A currency is trimmed first, and trim() takes U+2028/U+2029 as white space: not every quote holds them.)
    expect(separatorsShown).toBe(true);
  });

  it("an expired token is TOKEN_EXPIRED", async () => {
    let clock = new Date("2024-12-14T10:00:00Z");
    const e = await engine(() => clock);
    e.manifests.register(ORG, supportBot());
    const t = await issue(e, ["email:send"]);
    clock = new Date("2024-12-16T10:00:00Z");
    const d = await decide(ORG, emailRequest({ capability_token: t.token }), e.deps, { now: clock });
    expect(d.reasons.map((r) => r.code)).toEqual(["TOKEN_EXPIRED"]);
  });
});

describe("approvals in the pipeline", () => {
  const deleteRequest = emailRequest({ action: { type: "crm", tool: "delete", params: { record_id: "rec-123" } } });
  const approval = (over: Partial<ApprovalView> = {}): ApprovalView => ({
    approval_id: "appr-1",
    status: "approved",
    binding_hash: approvalBindingHash(approvalBindingOf(deleteRequest)),
    expires_at: "2099-01-01T00:00:00Z",
    reasons: [{ code: "REQUIRES_APPROVAL", message: "Action 'crm:delete' requires human approval" }],
    ...over,
  });
  const run = async (view: ApprovalView | undefined, request: ActionRequest, manifest = supportBot()) => {
    const e = await engine();
    e.manifests.register(ORG, manifest);
    return decide(
      ORG,
      { ...request, approval_id: "appr-1" },
      { ...e.deps, findApproval: () => view },
      { now: e.now() },
    );
  };

  it("an approved approval bound to this action turns ESCALATE into ALLOW", async () => {
    const d = await run(approval(), deleteRequest);
    expect(d.decision).toBe("ALLOW");
    expect(d.approvedBy).toBe("appr-1");
  });

  it("also when the approval is read through a promise (a networked store)", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot());
    const request = { ...deleteRequest, approval_id: "appr-1" };
    const d = await decide(ORG, request, { ...e.deps, findApproval: async () => approval() }, { now: e.now() });
    expect(d.decision).toBe("ALLOW");
    expect(d.approvedBy).toBe("appr-1");
  });

  it.each([
    ["pending", approval({ status: "pending" })],
    ["denied", approval({ status: "denied" })],
    ["consumed", approval({ status: "consumed" })],
    ["expired", approval({ expires_at: "2020-01-01T00:00:00Z" })],
    ["missing", undefined],
  ])("a %s approval keeps it ESCALATE", async (_label, view) => {
    expect((await run(view, deleteRequest)).decision).toBe("ESCALATE");
  });

  it("an approval clears only the reasons its approver was shown: one the manifest added since re-escalates", async () => {
    const stricter = supportBot({ policy: { high_risk_actions: ["crm:delete"] } });
    const d = await run(approval(), deleteRequest, stricter);
    expect(d.decision).toBe("ESCALATE");
    const check = d.policy_trace?.checks.find((c) => c.check === "approval_check");
    expect(check?.details).toMatchObject({ problem: "approval was not given for HIGH_RISK_ACTION" });
    const shown = approval({
      reasons: [
        { code: "REQUIRES_APPROVAL", message: "" },
        { code: "HIGH_RISK_ACTION", message: "" },
      ],
    });
    expect((await run(shown, deleteRequest, stricter)).decision).toBe("ALLOW");
    expect((await run(approval({ reasons: [] }), deleteRequest)).decision).toBe("ESCALATE");
  });

  it("an approval for other params does not transfer", async () => {
    const other = { ...deleteRequest, action: { ...deleteRequest.action, params: { record_id: "rec-999" } } };
    const d = await run(approval(), other);
    expect(d.decision).toBe("ESCALATE");
  });

  it("never overrides a DENY", async () => {
    const d = await run(
      approval(),
      deleteRequest,
      supportBot({ constraints: { max_actions_per_hour: 0, require_human_approval: ["crm:delete"] } }),
    );
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.code).toBe("BUDGET_EXCEEDED");
  });
});

describe("properties", () => {
  const contextArb = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });

  it("adding context never turns a DENY into an ALLOW", async () => {
    const e = await engine();
    e.manifests.register(
      ORG,
      supportBot({ ...paymentsBot({ jurisdiction_blocklist: ["KP"], counterparty_blocklist: ["evil*"] }) }),
    );
    const denied: ActionRequest[] = [
      emailRequest({ action: { type: "payment", tool: "wire", params: {}, jurisdiction: "KP" } }),
      emailRequest({
        action: { type: "payment", tool: "wire", params: {}, counterparty: "evil-corp", jurisdiction: "DE" },
      }),
      emailRequest({ action: { type: "crm", tool: "drop", params: {} } }),
      emailRequest({ uapk_id: "nope" }),
      emailRequest({ capability_token: "x.y.z" }),
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...denied), contextArb, async (request, context) => {
        const before = await decide(ORG, request, e.deps, { now: e.now() });
        const after = await decide(ORG, { ...request, context }, e.deps, { now: e.now() });
        expect(before.decision).toBe("DENY");
        expect(after.decision).toBe("DENY");
        expect(after.reasons).toEqual(before.reasons);
      }),
      { numRuns: 60 },
    );
  });
});

describe("what an approval is bound to", () => {
  const call = (context?: Record<string, unknown>) => ({
    uapk_id: "ide-assistant",
    agent_id: "ide-assistant",
    action: { type: "ide", tool: "write_file", params: { path: "main.dart" } },
    ...(context ? { context } : {}),
  });

  it("one user's approval never covers another user's identical call", () => {
    expect(actionHash(call({ user: "alice" }))).not.toBe(actionHash(call({ user: "bob" })));
  });

  it("an approval asked in one agent session never covers the same user's identical call in another", () => {
    expect(actionHash(call({ user: "alice", session_id: "s1" }))).not.toBe(
      actionHash(call({ user: "alice", session_id: "s2" })),
    );
    expect(actionHash(call({ user: "alice", session_id: "s1" }))).toBe(
      actionHash(call({ user: "alice", session_id: "s1", call_id: "c2" })),
    );
  });

  it("the rest of the context is not bound: a retry that describes itself anew is the same action", () => {
    expect(actionHash(call())).toBe(actionHash(call({ note: "retry" })));
  });
});

describe("hourly budgets belong to one org's agent", () => {
  it("an org whose id ends where another's uapk_id continues (`acme:sales` / `sales:bot`) spends none of it", async () => {
    const e = await engine();
    const limited = { max_actions_per_hour: 1 };
    const agent = { id: "bot", name: "Bot" };
    e.manifests.register("acme", supportBot({ uapk_id: "sales:bot", agent, constraints: limited }));
    e.manifests.register("acme:sales", supportBot({ uapk_id: "bot", agent, constraints: limited }));
    const send = (uapk_id: string) => emailRequest({ uapk_id, agent_id: "bot" });

    const other = await decide("acme:sales", send("bot"), e.deps, { now: e.now() });
    expect(other.decision).toBe("ALLOW");
    expect(e.budgets.tryConsume(other.budgetSlots)).toEqual({ ok: true });
    expect((await decide("acme:sales", send("bot"), e.deps, { now: e.now() })).decision).toBe("DENY");

    const own = await decide("acme", send("sales:bot"), e.deps, { now: e.now() });
    expect(own.reasons).toEqual([]);
    expect(own.decision).toBe("ALLOW");
  });

  it("keeps the scope of ids without `:` or `%` as it was (counters of the current hour carry over an upgrade)", () => {
    expect(BudgetCounters.hourlyScope("org-1", "customer-support-bot", "agent.7")).toBe(
      "hour:org-1:customer-support-bot:agent.7",
    );
  });
});
