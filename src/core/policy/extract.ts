// ONE extraction of what an action does, read from what the connector will receive (`action.params`, passed to
// it unchanged) plus the action's declared facts. Policy checks compare THESE values, never only the declared
// `counterparty`/`amount`, so an agent cannot declare one recipient and send to another.
//
// Well-known params, at any depth and in any letter case (`To`, `E_MAIL`, full-width…):
//   recipients    to, cc, bcc (and their compounds: to_addresses, to_recipients, to_email(s), cc_list, cc_address…),
//                 recipient(s), send_to / mail_to / rcpt_to / reply_to / forward_to…, the mailbox or phone number of
//                 any party under its role (customer_email, payeeEmail, beneficiary_email_address, PhoneNumber,
//                 customer_phone, msisdn…), email(s), email_address(es),
//                 counterparty/counterparties, a payee by name, id or account (payee, beneficiary, creditor and
//                 their `_name`/`_id`/`_account`/`_account_number`, the same of recipient and counterparty
//                 (`counterparty_id`, `counterpartyAccount`), iban and `*_iban`, Wise's `targetAccount`) — a
//                 string, a number, an array of them (under a mail key, a string in RFC 5322 list form, Mailgun's
//                 `Bob <a@acme.example>, "Doe, Jane" <j@acme.example>`, by its mailboxes alone; one not cleanly such
//                 a list, or whose display name holds an address, whole: mailboxesIn),
//                 or, under a mail key, `{email}` / `{address}` objects (whose other members are read as any params
//                 are: a `bcc` beside the mailbox counts); the display names beside those mailboxes (`Bob` of
//                 `Bob <a@acme.example>`, the `name` of `{email, name}`) are `names`, no recipients but judged by
//                 a counterparty blocklist; under a party key (payee, counterparty, destination…)
//                 and for an object without those keys, every string inside it counts (the connector may read any
//                 of them), a descriptor (`type`, `reference`, a currency…) read as params, and so is the postal
//                 address of a payee or of a mail recipient (an object, or a list of them, of postal members alone,
//                 `{line1, city, postal_code, country}`, PayPal's and Adyen's members too: isPostalAddress; its
//                 country is still a jurisdiction, and an `address` string, a wallet's, or an address written in
//                 it still a recipient); in any such object a key holding an `@` counts too (a map of
//                 address → name, `{"ann@acme.com": "Ann"}`, sends to it);
//                 under any other key, a string that is an address, a list of them or `Name <address>` (and an
//                 address in its display name: addressesIn)
//   names         the display names above, and the name of a party a payment or a message goes to under a key
//                 that says whose (`merchant_name`, `merchant_dba_name`, `vendorName`, `to_name`,
//                 `account_holder_name`) or under its role (`merchant: "Evil Corp"`, `vendor: {id, name}`, and the
//                 names inside the party's objects and lists: `merchant: {profile: {name}}`, `vendors: [{accounts:
//                 [{name}]}]`), who owns it (`owner: {name}`, `shop_owner`, `beneficial_owners`), a marketplace's
//                 parties (`sold_by`, a `shop` or `store`, Adyen's `subMerchants`), and a statement descriptor
//                 (`statement_descriptor` and its `_suffix` / `_prefix` / `calculated_` forms, PayPal's
//                 `soft_descriptor`, Braintree's `descriptor`: the merchant's name on the payee's statement, also each
//                 piece around its `*`, and a blocklist entry hits its leading words, `EVIL CORP ORDER 12`: FoundName)
//                 : collectPartyNames; a blocklist's alone, no recipients; prose (`description`, `note`, `memo`) names
//                 no one
//   amounts       amount (a number, a numeric string, or `{value}` / `{amount}`), amounts (one such value or an
//                 array of them: each element counts, so `{amount: 50, amounts: [5000]}` is judged at 5000), and their
//                 compounds (total_amount, amount_due, amount_usd, amount_cents, amountInMinorUnits, payout_amounts…:
//                 any word after `amount` but one describing it, such as amount_currency or amount_type); those in minor
//                 units (amount_cents, amount_minor, amountInMinorUnits) are marked `minor` and judged in major
//                 units of the action's one currency (./amounts.ts); money under price, fee, cost, total, subtotal
//                 and their compounds (unit_price, shipping_fee, grandTotal, total_cents…, ./money-keys.ts); a
//                 money object `{value, currency_code}` under any other key (or as the params themselves); a number
//                 under `sum`, `principal`, `payout` (and compounds ending so) beside a currency, or a string with a digit
//                 (`OutSum: "5000 EUR"`, read or refused) (collectNumericMoney);
//                 each times the `quantity` / `qty` (`QuantityOrdered`, `qty_ordered`) above 1 of every object
//                 around it, an amount object's own too (not Amazon SP-API's line totals, `ItemPrice` beside
//                 `QuantityOrdered`: isLineTotal)
//                 (a line item's price × its quantity, `unit_amount: {value, quantity}`; a quantity below 1 never
//                 lowers an amount); the money in an amount's breakdown
//                 (PayPal v2's `amount.breakdown`, v1's `details`) is a part of that amount (`partOf`), which is
//                 then judged at the larger of itself and its parts' sum, not at both (./amounts.ts); so is the
//                 money of a PayPal v2 purchase unit's `items` (unit_amount and tax times a whole quantity), a
//                 group of parts of its own, in the amount's one currency (itemsOfUnit); an amount written again
//                 in minor units beside it (`cents`, `fractional`, `amount_cents` beside `amount`, `price_cents`
//                 beside `price`) is no amount of its own but a representation that must agree (pairRepresentations)
//   currencies    currency, currencies, currency_code, and their compounds (amount_currency, payout_currency,
//                 targetCurrency, currency_iso, ccy…) (a string, a number, an array of them; any other value counts as
//                 its JSON text); a currency under `coin`, `asset`, `curr`, `denomination`, `unit` and their compounds
//                 (Binance's `coin: "BTC"`, Kraken's `asset: "XBT"`), judged by its value (./money-keys.ts coinKeyKind)
//   jurisdictions jurisdiction, country, country_code, and their compounds (beneficiary_country, bankCountryCode,
//                 country_iso2, country_iso_code, country_numeric, country_of_destination, ISO 20022's Ctry and
//                 CtryOfRes, settlement_jurisdiction…), nationality, citizenship, a country written as one (an upper-
//                 case ISO code or a name) under destination, ship_to, origin or nation, a two-letter country `regionCode`
//                 (Google's PostalAddress; another spelling only in an object naming no other country), the country
//                 of an IBAN (`iban`, `*_iban`) or a BIC (`bic`, `BICFI`, `swift_code`…) of that shape, and of a
//                 valid IBAN (registry length, mod-97) under any other key (collectJurisdictions)
// A manifest tool may declare more (ToolConfig `recipient_params`, `amount_params`: dot paths into params, e.g.
// `payee.iban`; a segment walks every element of an array; an amount path whose last segment ends in `cents` or
// `minor_units` is in minor units), or say that its upstream reads ONLY those places (`recipient_params_only`,
// `amount_params_only`: the walk's recipients or amounts outside them are then dropped, unless the params hold none
// of them, or the url template's `{placeholders}` send them). Walking is bounded: params too deep or too large to
// walk completely are reported as `incomplete`, and every rule that depends on them fails closed.
import { templatePlaceholders } from "../connectors/url-template";
import { clipped } from "./clip";
import { type DecodeBudget, embeddedIn } from "./embedded-payloads";
import { foldKey } from "./fold-key";
import { ibanCountryChecked } from "./iban";
import { normalizeJurisdiction } from "./jurisdictions";
import {
  coinCurrency,
  coinKeyKind,
  holdsMoneyObjects,
  isGoogleMoney,
  isMoneyObject,
  isNumericMoneyKey,
  MINOR_FORMS,
  MINOR_MEMBERS,
  mayBeMoney,
  moneyKeyKind,
} from "./money-keys";
import { foldText } from "./normalize";
import { NUMBER_GROUPING } from "./pattern";
import { joinedPersonNames, type NameParts, notePersonNamePart } from "./person-names";
import type { Action, ToolConfig } from "./types";

export { foldKey };

/** One value found in the action and where (`action.counterparty`, `params.to[1]`, `params.payee.email`). */
export interface Found<T> {
  source: string;
  value: T;
  /**
   * The amount is in the minor unit of its currency (`amount_cents`, `amountInMinorUnits`, `amount_minor`): 5000 is
   * 50.00 USD, 5000 JPY, 5.000 BHD (./amounts.ts converts it with the currency's exponent).
   */
  minor?: true;
  /**
   * The quantities the amount is multiplied by: the `quantity` / `qty` of each object around it (a line item's
   * `{unit_price: 10, quantity: 50}` moves 500, an order's quantity multiplies its lines' too; ./amounts.ts).
   */
  quantities?: Found<unknown>[];
  /**
   * The source of the amount this one is a part of: a member of its breakdown (PayPal v2's `amount.breakdown`, v1's
   * `amount.details`), or the `amount` member of an amount object. It details that amount rather than adding to it:
   * the action moves the larger of that amount and its parts' sum (./amounts.ts), never both.
   */
  partOf?: string;
  /**
   * The group of parts it belongs to, when not the breakdown's: `items`, a PayPal v2 purchase unit's line item
   * (its `unit_amount` and `tax`, each times its `quantity`), which details the unit's `amount` beside the
   * breakdown. Each group is summed on its own (./amounts.ts): added to the breakdown's, the same order counted twice.
   */
  partGroup?: "items";
  /**
   * The same amount written again beside it in minor units (./amounts.ts compares them): `{amount: 50, cents: 5000}`,
   * `amount_cents`, `fractional` beside `amount`, `price_cents` beside `price`. An upstream may read either, so they
   * must agree; agreeing, they are one amount, counted once.
   */
  representations?: Found<unknown>[];
}

/** A name found, and whether it is a statement descriptor's (or one of its `*` pieces). */
export interface FoundName extends Found<string> {
  /**
   * What a card statement shows: the merchant's name, then what the acquirer adds (`EVIL CORP ORDER 12`, `EVIL CORP
   * BERLIN`). A blocklist entry matches its leading words too (../checks/counterparty.ts), not only the whole of it.
   */
  descriptor?: true;
}

export interface ActionFacts {
  recipients: Found<string>[];
  /**
   * The display names of the mailboxes sent to (`Evil Corp` of `to: "Evil Corp <ceo@x.example>"`, the `name` of `to:
   * {email, name}`). No recipients: mail goes to the mailbox, which an allowlist, a token's allowed_recipients and the
   * new-counterparty rule judge (an allowlisted mailbox with a display name stays allowed). A counterparty blocklist
   * judges them too: mail addressed to Evil Corp by name is what a blocklist of Evil Corp is there to stop. So are
   * the names of the parties paid or written to under a key that says whose (`merchant_name`, `vendor: {name}`,
   * `account_holder_name`: collectPartyNames), no recipients either: a name is no proof of whom the connector reaches.
   */
  names: FoundName[];
  amounts: Found<unknown>[];
  currencies: Found<string>[];
  jurisdictions: Found<string>[];
  /** Why the params could not be walked completely (rules then fail closed), when they could not. */
  incomplete?: string;
}

export const MAX_PARAM_DEPTH = 32;
/**
 * Values the walk reads: the members and elements of the params at any depth, the params object itself not one of
 * them, as the engine counts them (../governance/params-size.ts, the same bound): whatever the engine accepts is read
 * completely. Counted with the root, params of exactly 10,000 values passed the engine and were then judged
 * incomplete, DENYed under any amount, counterparty or jurisdiction rule (outside review R23d).
 */
export const MAX_PARAM_NODES = 10_000;
/**
 * Addresses the strings of the params may spell out in all (`"a@x.example, b@x.example, …"`), a bound of their own:
 * the engine counts values, never what a string spells, and a string counted toward the values bound made params
 * it accepted (9,999 values, one string with two addresses) incomplete. Only a string that names more addresses
 * than any message is sent to (a 1 MiB body may spell 250,000, each then judged by the counterparty rules) makes the
 * params incomplete now: such an action is refused, not read in part, though the engine accepted its size.
 */
export const MAX_PARAM_ADDRESSES = 10_000;

const RECIPIENT_KEYS = new Set([
  "to",
  "cc",
  "bcc",
  "recipient",
  "recipients",
  "email",
  "emails",
  "emailaddress",
  "emailaddresses",
  "counterparty",
  "counterparties",
  ...compoundRecipientKeys(),
]);

/**
 * The compound spellings of to / cc / bcc that mail and messaging APIs use: SES `ToAddresses` / `BccAddresses`, Graph
 * `toRecipients`, `to_email`, `cc_list`… A recipient under one of them reaches the connector as surely as under `to`.
 * Not the singular `to_address`: shipping APIs put a postal address there, whose street would count as recipients.
 */
function compoundRecipientKeys(): string[] {
  const kinds = ["addresses", "recipient", "recipients", "email", "emails", "emailaddress", "emailaddresses", "list"];
  return [
    ...["to", "cc", "bcc"].flatMap((field) => kinds.map((kind) => `${field}${kind}`)),
    // `cc_address`, `recipient_address`: the singular is a mailbox beside cc / bcc / recipient (not beside `to`).
    ...["cc", "bcc", "recipient"].map((field) => `${field}address`),
    // `send_to`, `mail_to`, `rcpt_to`, `reply_to`, `forward_to`: where a message goes, or where its answers go.
    ...["send", "email", "mail", "rcpt", "envelope", "reply", "forward", "deliver", "notify"].map(
      (verb) => `${verb}to`,
    ),
  ];
}

const MAIL_KINDS = ["email", "emails", "emailaddress", "emailaddresses"];

/**
 * The party a payment goes to, by its name, id or account: a wire judged for the declared `counterparty: "John
 * Smith"` (a known one) must not pay `payee: "Evil Corp"`, `beneficiary_account: "…"` or `iban: "…"` unjudged. Not
 * the party's other attributes (`payee_reference`, `beneficiary_country`: read by their own rules, if any).
 */
const PARTY_FORMS = [
  ...["name", "names", "id", "ids", "account", "accounts", "accountid", "accountnumber"],
  // `beneficiary_uuid`, `recipient_account_uuid`, a UPI payee's `payee_vpa` (virtual payment address).
  ...["uuid", "uuids", "accountuuid", "vpa"],
];
// The account a payment is made to, by the `to` of a transfer (`to_account_id`, `toAccount`); not `to_name`, a
// mail API's display name.
const TO_ACCOUNT_FORMS = ["account", "accounts", "accountid", "accountnumber", "accountuuid"];
const PARTY_KEYS = new Set([
  ...["payee", "payees", "beneficiary", "beneficiaries", "creditor", "creditors", "destination", "payto"],
  // `counterparty_id`, `counterpartyAccount` (Modern Treasury, banking APIs): the counterparty by its id, as surely as
  // by its name under `counterparty`.
  ...["payee", "beneficiary", "creditor", "recipient", "destination", "counterparty", "receiver"].flatMap((party) =>
    PARTY_FORMS.map((form) => party + form),
  ),
  // Modern Treasury's `receiving_account_id` (the account paid, beside its `counterparty_id`), `to_account_id`.
  ...["receiving", "to"].flatMap((party) => TO_ACCOUNT_FORMS.map((form) => party + form)),
  // Stripe's `destination_payment_method`: the card or account a payout lands on.
  "destinationpaymentmethod",
  // Wise's transfer `{targetAccount: 12345, quoteUuid, details}`: the recipient account's id, the one party named.
  ...["targetaccount", "targetaccounts", "targetaccountid", "targetaccountnumber", "targetaccountuuid"],
  // Where the money lands without a party's name: Stripe's transfer `destination`, a bank `account_number`, a
  // crypto `wallet_address` (and `to_wallet`, `destination_wallet_address` below).
  ...["accountnumber", "accountnumbers", "accountno", "acctnumber", "acctno", "bankaccount", "bankaccountnumber"],
  ...["dest", "receiver", "receivers", "receivingaccount", "receivingaccountnumber"],
]);
// `wallet`, `to_wallet`, `wallet_address`, `walletId`, `wallet_addr`: a crypto or e-money account by any of its names.
const WALLET_KEY = /wallets?(?:address|addresses|addr|id|ids)?$/u;
// `payout_destination`, `transferDestination`: where a payout or transfer lands, under its role's name.
const isDestinationKey = (folded: string) => folded.endsWith("destination");

/**
 * A recipient key: a well-known one, the mailbox of any party under its role's name (`customer_email`,
 * `payeeEmail`, `beneficiary_email_address`, `contactEmails`), a payee by name, or an account the money goes to
 * (`iban`, `beneficiary_iban`, `destination`, `account_number`, `to_wallet_address`): a connector sends to it as
 * surely as to `to`.
 */
function recipientKeyKind(folded: string): typeof MAIL | typeof PARTY | undefined {
  if (isPartyKey(folded)) return PARTY;
  if (RECIPIENT_KEYS.has(folded) || MAIL_KINDS.some((kind) => folded.endsWith(kind))) return MAIL;
  return undefined;
}

/**
 * Where money lands: a payee, a counterparty, an account. Every member of such an object names the party (its
 * `name`, `merchant_id`, `iban`), a mailbox beside them too: `payee: {email: ok, name: "Evil Corp"}` pays Evil Corp.
 */
const isPartyKey = (folded: string) =>
  PARTY_KEYS.has(folded) ||
  folded === "counterparty" ||
  folded === "counterparties" ||
  folded.endsWith("iban") ||
  (folded.includes("wallet") && WALLET_KEY.test(folded)) ||
  isDestinationKey(folded);

/**
 * How the walk reads a value: as params (READ: recipient keys and addresses in strings count), or under a recipient
 * key whose value collectRecipients took already: a mail recipient (MAIL: an object with a mailbox member was taken
 * by that member alone, its display name is no recipient) or a party (PARTY: every member but a descriptor was
 * taken). What was not taken is read as params.
 */
const READ = 0;
const MAIL = 1;
const PARTY = 2;
type Mode = typeof READ | typeof MAIL | typeof PARTY;

/**
 * A telephone number an SMS or a call goes to, under its own word: `phone`, AWS SNS's `PhoneNumber`, `msisdn`,
 * `mobile_number`, a party's (`customer_phone`, `ownerPhone`). A word of its own, read on the key as written (NFKC):
 * folded, `headphones` would end in `phones` too.
 */
function isPhoneKey(key: string, folded: string): boolean {
  if (!PHONE_WORD.test(folded)) return false;
  const text = ASCII.test(key) ? key : key.normalize("NFKC");
  return PHONE_KEY.test(text) || CAMEL_PHONE_KEY.test(text);
}
const PHONE_WORD = /phone|msisdn|mobile/u;
const ASCII = /^[\x20-\x7e]*$/u;
const PHONE_KEY = /(?:^|[^\p{L}\p{N}])(?:phone|phones|phone[_ -]?numbers?|msisdn|mobile|mobile[_ -]?numbers?)$/iu;
const CAMEL_PHONE_KEY = /\p{Ll}(?:Phone|Phones|PhoneNumbers?|Msisdn|MSISDN|Mobile|MobileNumbers?)$/u;
const ADDRESS_KEYS = new Set(["email", "address", "emailaddress"]);
// What follows `amount` in a key that describes an amount rather than holding one (`amount_currency` is read as a
// currency by its own rule; `amount_type: "fixed"` is no money).
const NOT_AN_AMOUNT = new Set([
  "currency",
  "currencycode",
  "type",
  "kind",
  "label",
  "description",
  "formatted",
  "text",
]);

/**
 * Whether a folded key holds an amount (`one`) or a list of them (`list`): `amount`, `amounts`, and their compounds as
 * payment APIs spell them (`total_amount`, `transferAmount`, `amount_cents`, `payout_amounts`). A connector sends them
 * beside `amount`, and the policy must not judge `amount` alone while the upstream charges the other. The plural keys
 * too, as the recipient keys have theirs: every element of such a list counts.
 */
function amountKeyKind(folded: string): "one" | "minor" | "list" | undefined {
  if (folded.endsWith("amounts")) return "list";
  if (folded.endsWith("amount")) return "one";
  const at = folded.lastIndexOf("amount");
  if (at < 0) return undefined;
  const form = folded.slice(at + "amount".length);
  if (MINOR_FORMS.has(form)) return "minor";
  // Any other word after `amount` still names an amount (`amount_due`, `amount_usd`, `unit_amount_decimal`,
  // `amountInDollars`): unread, it would be moved unjudged. Only words that describe an amount are not one.
  return NOT_AN_AMOUNT.has(form) ? undefined : "one";
}

/**
 * Whether a declared `amount_params` path names an amount in minor units: its last segment is a minor-unit amount key
 * (`amount_cents`) or ends as one (`price_cents`, `totalMinorUnits`).
 */
function isMinorPath(path: string): boolean {
  const last = foldKey(path.split(".").filter(Boolean).at(-1) ?? "");
  return amountKeyKind(last) === "minor" || /(?:cents|minorunits)$/u.test(last);
}
// `currency_code` / `currencyCode` too: PayPal's and Google's money objects (`{value, currency_code}`) carry it, and
// the connector sends it beside whatever top-level `currency` the policy would otherwise have judged the amount in.
// So do the compounds (`amount_currency`, `payout_currency`, Wise's `targetCurrency`, `currency_iso`, FIX's `ccy`):
// 99.99 under `amount_currency: KWD` is about 325 USD, judged as 99.99 USD were the key unread.
const CURRENCY_KEY = /(?:currency|currencies)(?:code|iso|isocode|iso3|alpha3)?$|ccy$/u;
// Most keys hold no `currenc` nor end in `ccy`: they skip the pattern (this runs for every key of every action).
const isCurrencyKey = (folded: string) =>
  (folded.includes("currenc") || folded.endsWith("ccy")) && CURRENCY_KEY.test(folded);
const JURISDICTION_KEYS = new Set(["jurisdiction", "country", "countrycode"]);
// How a country is spelled after `country` (or ISO 20022's `Ctry`) in a compound key: any run of these words,
// `country_iso2`, `countryAlpha3`, `country_name`, `countryIsoCode`, `country_code_alpha2`, `country_iso_3166_1_alpha_2`.
// A numeric one too (`country_numeric`, `countryNumericCode`: `408` is North Korea, ../jurisdictions.ts). Not
// `country_subdivision` (ISO 20022's `CtrySubDvsn`, a state).
const COUNTRY_FORM = /^(?:code|iso|alpha|name|short|long|full|3166|[123]|numeric|num)*$/u;

/**
 * Whether a folded key names a jurisdiction: the well-known ones, and their compounds as payment and shipping APIs
 * spell them (`beneficiary_country`, `bankCountryCode`, `country_iso2`, `countryIsoCode`, `settlement_jurisdiction`,
 * ISO 20022's `Ctry` and `CtryOfRes`): a country the connector sends under one of them is where the action goes as
 * surely as under `country`.
 */
function isJurisdictionKey(folded: string): boolean {
  if (JURISDICTION_KEYS.has(folded) || folded.endsWith("jurisdiction")) return true;
  if (COUNTRY_OF_PERSON.some((word) => folded.endsWith(word))) return true;
  const country = folded.lastIndexOf("country");
  const ctry = folded.lastIndexOf("ctry");
  if (country < 0 && ctry < 0) return false;
  const form = country > ctry ? folded.slice(country + "country".length) : folded.slice(ctry + "ctry".length);
  // `country_of_destination`, `countryOfResidence`: a country in a role, as surely as `destination_country`.
  return COUNTRY_FORM.test(form) || form.startsWith("of");
}

/**
 * Collects the jurisdictions a member names: the value of a jurisdiction key, a country region code, and the
 * country an IBAN or a BIC is of (its first two letters, its fifth and sixth): the bank that holds the account is
 * there, whatever `country` the params declare beside it.
 */
function collectJurisdictions(
  node: Record<string, unknown>,
  key: string,
  folded: string,
  value: unknown,
  here: string,
  into: Found<string>[],
): void {
  if (isJurisdictionKey(folded)) collectScalars(value, here, into);
  else if (PLACE_KEYS.has(folded) && isWrittenCountry(value)) into.push({ source: here, value });
  else if (folded === "regioncode") {
    const region = countryRegion(node, key, value);
    if (region !== undefined) into.push({ source: here, value: region });
  } else if (IBAN_KEY.test(folded)) collectBankCountries(value, here, ibanCountry, into);
  else if (BIC_KEY.test(folded)) collectBankCountries(value, here, bicCountry, into);
  else if (mayBeIban(value)) collectBankCountries(value, here, ibanCountryChecked, into);
}

/**
 * Where a shipment or a transfer goes or comes from, or whose it is, under a word that is not `country` (outside
 * review R-a #6): `{country: "DE", destination: "KP"}` (`ship_to`, `origin`, `nation` too) goes to North Korea as
 * surely as under `destination_country`. Their values are as often no country (Stripe's `destination: "acct_1…"`,
 * `origin: "web"`, `ship_to: {…}` an address, walked as any object), so only one written as a country counts:
 * an ISO 3166-1 code in upper case (`KP`, `PRK`; not `in`, `no`, `it`, English words) or a country's name (`North
 * Korea`). Not `region` (a state, a cloud region: `CA`, `eu-west-1`).
 */
function isWrittenCountry(value: unknown): value is string {
  if (typeof value !== "string") return false;
  const text = value.trim();
  if (/^[A-Z]{2,3}$/u.test(text)) return normalizeJurisdiction(text) !== undefined;
  return /\p{L}{4}/u.test(text) && !/\d/u.test(text) && normalizeJurisdiction(text) !== undefined;
}
const PLACE_KEYS = new Set(["destination", "shipto", "origin", "nation"]);

/**
 * A `regionCode` that is a country: Google's PostalAddress and its APIs' request params write the country as a CLDR
 * region code (`regionCode: "KP"`), and spelled so (its JSON name) it is read as one beside any other country of the
 * object: `{country: "DE", regionCode: "KP"}` may go to either. Elsewhere a region code is no country (AWS's
 * `us-east-1`, a geolocation's state `region_code: "CA"` beside its `country_code`): only a two-letter ISO 3166-1
 * code, in an object that names no country under another key, is read as one.
 */
function countryRegion(node: Record<string, unknown>, key: string, value: unknown): string | undefined {
  if (typeof value !== "string" || !/^\s*[A-Za-z]{2}\s*$/u.test(value) || !normalizeJurisdiction(value))
    return undefined;
  if (key === "regionCode") return value;
  return Object.keys(node).some((other) => isJurisdictionKey(foldKey(other))) ? undefined : value;
}

/**
 * Whether a value under any other key may be an IBAN, or a list holding one: a string that begins with two letters
 * and two digits (a space between them allowed), then checked whole (./iban.ts). Most values fail the first test.
 */
function mayBeIban(value: unknown): boolean {
  if (typeof value === "string") return value.length >= 15 && IBAN_START.test(value);
  return Array.isArray(value) && value.some((item) => typeof item === "string" && mayBeIban(item));
}
const IBAN_START = /^\s*(?:iban\b[\s:#.]*)?[A-Za-z\uFF21-\uFF3A\uFF41-\uFF5A]{2}\s*[0-9\uFF10-\uFF19]{2}/iu;

// An IBAN under its key (`iban`, `beneficiary_iban`, `IBAN` of ISO 20022, `iban_number`), a BIC under its (`bic`,
// ISO 20022's `BICFI` and `AnyBIC`, `swift`, `swift_code`, `bic_swift`, `beneficiary_bank_bic`).
const IBAN_KEY = /iban(?:number|code|no)?$/u;
const BIC_KEY = /(?:bic|bicfi|swift)(?:code|swift|swiftcode|bic|biccode|fi)?$/u;
// What a printed IBAN or BIC is grouped with (`DE89 3704 0044…`, `DE89-3704…`, `DE89.3704…`, `IR82/0540…`,
// `IR82_0540…`): the bank drops it. The grouping the counterparty rule reads an IBAN in (./pattern.ts), so an IBAN
// it compares is one whose country is read (outside review R-d F5). And the paper form's label (ISO 13616's `IBAN
// IR82 0540…`, `IBAN: …`) and a note in brackets (`IR82 0540… (Bank Melli)`) are no part of it.
const BANK_LABEL = /^\s*iban\b[\s:#.]*/u;
const BANK_NOTE = /\([^()]*\)|\[[^[\]]*\]/gu;
function compactBankText(value: string): string {
  let text = foldText(value);
  // Most values hold neither (one test each, no copy).
  if (text.startsWith("iban")) text = text.replace(BANK_LABEL, "");
  if (BANK_NOTE_START.test(text)) text = text.replace(BANK_NOTE, "");
  return text.replace(NUMBER_GROUPING, "").toUpperCase();
}
const BANK_NOTE_START = /[([]/u;

/** An IBAN's country (letters 1-2): two letters, two check digits, up to 30 letters or digits. */
function ibanCountry(compact: string): string | undefined {
  return /^[A-Z]{2}\d{2}[A-Z0-9]{1,30}$/u.test(compact) ? compact.slice(0, 2) : undefined;
}

/** A BIC's country (letters 5-6): 8 or 11 letters or digits, whose fifth and sixth are an ISO 3166-1 country. */
function bicCountry(compact: string): string | undefined {
  if (!/^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$/u.test(compact)) return undefined;
  const country = compact.slice(4, 6);
  return normalizeJurisdiction(country) ? country : undefined;
}

/** The countries of the IBANs or BICs a value holds (a string, or a list of them); any other value names none. */
function collectBankCountries(
  value: unknown,
  source: string,
  countryOf: (compact: string) => string | undefined,
  into: Found<string>[],
): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++)
      if (i in value) collectBankCountries(value[i], `${source}[${i}]`, countryOf, into);
    return;
  }
  if (typeof value !== "string") return;
  const country = countryOf(compactBankText(value));
  if (country !== undefined) into.push({ source: `${source} (its country)`, value: country });
}

/** A person's country under its own name (`nationality`, `citizenship`, `country_of_residence` above). */
const COUNTRY_OF_PERSON = ["nationality", "citizenship"];

type ExtractableAction = Pick<Action, "params" | "amount" | "currency" | "counterparty" | "jurisdiction">;

export function extractActionFacts(action: ExtractableAction, tool?: DeclaringTool): ActionFacts {
  const facts: ActionFacts = { recipients: [], names: [], amounts: [], currencies: [], jurisdictions: [] };
  if (action.counterparty !== undefined)
    facts.recipients.push({ source: "action.counterparty", value: String(action.counterparty) });
  if (action.jurisdiction !== undefined)
    facts.jurisdictions.push({ source: "action.jurisdiction", value: String(action.jurisdiction) });
  if (action.currency !== undefined)
    facts.currencies.push({ source: "action.currency", value: String(action.currency) });

  // One walk state per extraction, passed down rather than closed over: no closure per call or per array.
  const walked: Walk = { facts, nodes: 0, addresses: 0, inAmount: 0 };
  walk(action.params, "params", 0, walked);
  if (tool) readDeclaredPlaces(action.params, tool, walked);
  return facts;
}

/**
 * What a tool declares: more places of recipients and amounts (`recipient_params`, `amount_params`), and the
 * operator's word that its upstream reads them only there (`…_only`): what the walk found elsewhere then goes. Unless
 * the params hold none of the declared places: an agent that leaves them out must not leave its recipients and
 * amounts unjudged, so the walk's findings stand. With no declared place at all, the tool has none but the action's
 * declared `counterparty` / `amount` (the operator's word, which no agent can change). Nor are the values the url
 * template's `{placeholders}` carry ever dropped: the connector sends them, whatever the operator declared
 * (`/send/{to}` under `recipient_params: [payee.email]` sends to `to`, which is judged).
 */
function readDeclaredPlaces(params: unknown, tool: DeclaringTool, walked: Walk): void {
  const facts = walked.facts;
  const sent = new Set(placesOf(params, urlPlaceholders(tool)).map((place) => place.source));
  const recipientPaths = tool.recipient_params ?? [];
  const recipientPlaces = recipientPaths.flatMap((path) =>
    placesOf(params, [path]).map((place) => ({ ...place, party: isPartyPath(path) })),
  );
  if (tool.recipient_params_only && (recipientPaths.length === 0 || recipientPlaces.length > 0)) {
    const places = new Set([...recipientPlaces.map((place) => place.source), ...sent]);
    facts.recipients = facts.recipients.filter(
      (found) => found.source === "action.counterparty" || isWithin(found.source, places),
    );
    facts.names = facts.names.filter((found) => isWithin(found.source, places));
  }
  if (recipientPlaces.length > 0) collectDeclaredRecipients(recipientPlaces, facts);

  const amountPaths = tool.amount_params ?? [];
  const amountPlaces = amountPaths.flatMap((path) =>
    placesOf(params, [path]).map((place) => ({ ...place, minor: isMinorPath(path) })),
  );
  if (tool.amount_params_only && (amountPaths.length === 0 || amountPlaces.length > 0))
    facts.amounts = facts.amounts.filter((found) => isWithin(found.source, sent));
  if (amountPlaces.length > 0) collectDeclaredAmounts(amountPlaces, walked, params);
}

type DeclaringTool = Pick<
  ToolConfig,
  "recipient_params" | "amount_params" | "recipient_params_only" | "amount_params_only"
> & { connector?: { url?: string | undefined } | undefined };

/** The param paths an http or webhook tool's url template fills (`{to}`, `{payee.email}`): the connector's own reading. */
function urlPlaceholders(tool: DeclaringTool): string[] {
  const url = tool.connector?.url;
  return typeof url === "string" ? templatePlaceholders(url) : [];
}

/**
 * Whether a declared recipient place is a party's (every member of an object there counts) or a mailbox's, as the
 * well-known key it ends in says: `personalizations.to` holds `{email, name}` entries whose name is no recipient.
 */
function isPartyPath(path: string): boolean {
  const last = foldKey(path.split(".").filter(Boolean).at(-1) ?? "");
  return recipientKeyKind(last) !== MAIL;
}

/** The values at declared dot paths, each with its place in the params (`params.payee.iban`). */
const placesOf = (params: unknown, paths: readonly string[]): Found<unknown>[] =>
  paths.flatMap((path) =>
    resolvePath(params, path).map((hit) => ({ source: `params.${hit.source}`, value: hit.value })),
  );

/**
 * Whether a source is one of the places or inside one: `params.to[0].email` is within `params.to`, `params.tos` is
 * not. Its prefixes that end at a separator are looked up, so 3,000 recipients in 3,000 declared places (an array
 * path) cost 3,000 short walks, not 9 million comparisons (300 ms a decision).
 */
function isWithin(source: string, places: ReadonlySet<string>): boolean {
  if (places.has(source)) return true;
  for (let i = source.length - 1; i > 0; i--) {
    const c = source[i];
    if ((c === "." || c === "[" || c === " ") && places.has(source.slice(0, i))) return true;
  }
  return false;
}

/**
 * The amounts at a tool's declared paths, each place once: a declared `price` or `amount` was found by the walk
 * already, and counted twice it would be judged at double. The declaration says how to read it (minor units or not).
 */
function collectDeclaredAmounts(
  places: { source: string; value: unknown; minor: boolean }[],
  walked: Walk,
  params: unknown,
): void {
  const facts = walked.facts;
  const declared = new Map<string, Found<unknown>>();
  for (const { source, value, minor } of places) {
    const quantities = walked.quantityAt ? quantitiesAbove(source, walked.quantityAt) : [];
    const unit = minor ? { minor: true as const } : {};
    declared.set(source, { source, value, ...unit, ...(quantities.length ? { quantities } : {}) });
  }
  // A source is the keys joined with `.` and `[i]`: where a key spells such a path itself (`"order.total_price": 60`
  // beside `order: {total_price: 60}`), an amount found at a declared place's source may stand elsewhere, and
  // dropping it as found twice judged 120 as 60. Then nothing at that source is dropped: a place counted twice errs
  // high, never low. Only that place's own spellings count: a dotted key elsewhere (`metadata: {"app.version": …}`,
  // Graph's `"@odata.type"`) spells no declared place, and made every declared amount count twice (R23d).
  const twice = spelledTwice(params, declared.keys());
  facts.amounts = facts.amounts.filter((found) => !declared.has(found.source) || twice.has(found.source));
  for (const found of declared.values()) facts.amounts.push(found);
}

/**
 * The sources (`params.order.total_price`) that more than one place in the params spells: a key holding `.`, `[` or
 * `]` (`"order.total_price"` at the top, `"total_price"` under `"order"`), or one a source quotes otherwise
 * (clipped: longer than a quote, or with a control character), may spell the same source as the keys of another
 * place. Each source is followed from the params down: a plain key is looked up (its piece of the source is itself)
 * and only a node's other keys are tried against the rest of the source, found once per node (oddKeysOf). A tree
 * reaches each node by one path, so a source costs no more than the nodes whose path begins it.
 */
function spelledTwice(params: unknown, sources: Iterable<string>): Set<string> {
  const twice = new Set<string>();
  const odd = new WeakMap<object, string[]>();
  for (const source of sources)
    if (source.startsWith("params") && spellings(params, source.slice("params".length), odd) > 1) twice.add(source);
  return twice;
}

/** How many places under `node` the rest of a source spells (counting stops past one). */
function spellings(node: unknown, rest: string, odd: WeakMap<object, string[]>, depth = 0): number {
  if (rest === "") return 1;
  if (!isObject(node) || depth > MAX_PARAM_DEPTH) return 0;
  if (Array.isArray(node)) {
    const index = /^\[(\d+)\]/u.exec(rest);
    const i = Number(index?.[1]);
    if (!index || String(i) !== index[1] || !(i in node)) return 0;
    return spellings(node[i], rest.slice(index[0].length), odd, depth + 1);
  }
  if (rest[0] !== ".") return 0;
  const end = rest.slice(1).search(/[.[]/u) + 1 || rest.length;
  const plain = rest.slice(1, end);
  let count =
    Object.hasOwn(node, plain) && !isOddKey(plain) ? spellings(node[plain], rest.slice(end), odd, depth + 1) : 0;
  for (const key of oddKeysOf(node, odd)) {
    if (count > 1) break;
    const piece = `.${clipped(key)}`;
    if (rest.startsWith(piece)) count += spellings(node[key], rest.slice(piece.length), odd, depth + 1);
  }
  return count;
}

/** An object's keys whose piece of a source is not the key alone (isOddKey), found once per object. */
function oddKeysOf(node: Record<string, unknown>, odd: WeakMap<object, string[]>): string[] {
  let keys = odd.get(node);
  if (!keys) {
    keys = Object.keys(node).filter(isOddKey);
    odd.set(node, keys);
  }
  return keys;
}
const isOddKey = (key: string) => PATH_CHARACTERS.test(key) || clipped(key) !== key;
const PATH_CHARACTERS = /[.[\]]/u;

/**
 * The recipients at a tool's declared places, each once: a declared param that spells out an address in full was
 * found by the walk already, at the same place. A declared place is a party's (every member of an object there
 * counts: declare `payee.email` for the mailbox alone) unless it ends in a mail key (isPartyPath).
 */
function collectDeclaredRecipients(places: (Found<unknown> & { party: boolean })[], facts: ActionFacts): void {
  const recipients = facts.recipients.length;
  const names = facts.names.length;
  for (const place of places) collectRecipients(place.value, place.source, 0, facts, place.party);
  keepNew(facts.recipients, recipients);
  keepNew(facts.names, names);
}

/** Drops the values found from `start` on that were found before at the same place (or twice since). */
function keepNew(found: Found<string>[], start: number): void {
  const placeOf = (f: Found<string>) => `${f.source}\u0000${f.value}`;
  const seen = new Set(found.slice(0, start).map(placeOf));
  for (const one of found.splice(start)) {
    const place = placeOf(one);
    if (seen.has(place)) continue;
    seen.add(place);
    found.push(one);
  }
}

/**
 * The quantities of the object at `source` and of those around it (`params.order.lines[0].unit`: the unit's own, the
 * line's, the order's…).
 */
function quantitiesAbove(source: string, quantityAt: Map<string, Found<unknown>>): Found<unknown>[] {
  const own = quantityAt.get(source);
  const found: Found<unknown>[] = own ? [own] : [];
  for (let i = source.length - 1; i > 0; i--) {
    if (source[i] !== "." && source[i] !== "[") continue;
    const quantity = quantityAt.get(source.slice(0, i));
    if (quantity) found.push(quantity);
  }
  return found;
}

interface Walk extends DecodeBudget {
  facts: ActionFacts;
  /** Values visited so far (bounded by MAX_PARAM_NODES). */
  nodes: number;
  /** Addresses the strings visited so far spell out (bounded by MAX_PARAM_ADDRESSES). */
  addresses: number;
  /** The quantity of each object that has one, by the object's source (`params.line`), for declared amounts. */
  quantityAt?: Map<string, Found<unknown>>;
  /**
   * The objects read as one amount (a PayPal `amount` object, an `amounts` element), once there is one, each with
   * the amount found for it (its own quantity multiplies it: timesOwnQuantity).
   */
  amountObjects?: Map<object, Found<unknown>>;
  /** How many of the objects around the value walked now, itself included, were read as one amount. */
  inAmount: number;
  /** The breakdowns of amounts (PayPal's `breakdown`, `details`), each with the source of the amount it details. */
  breakdownOf?: Map<object, string>;
}

/** Records the first reason the params could not be walked completely. */
function fail(facts: ActionFacts, why: string): void {
  facts.incomplete ??= why;
}

/**
 * Every well-known key anywhere in the params, and every address spelled out in full in a string under any other
 * key (`mode`: READ, or MAIL / PARTY under a recipient key, whose values collectRecipients took already).
 */
function walk(node: unknown, source: string, depth: number, walked: Walk, mode: Mode = READ): void {
  const facts = walked.facts;
  // The params themselves (depth 0) are no value of theirs: MAX_PARAM_NODES counts as the engine does.
  if (depth > 0 && ++walked.nodes > MAX_PARAM_NODES)
    return fail(facts, `params have more than ${MAX_PARAM_NODES} values`);
  if (depth > MAX_PARAM_DEPTH) return fail(facts, `params are nested deeper than ${MAX_PARAM_DEPTH}`);
  if (typeof node === "string") {
    if (mode !== READ) return;
    readAddresses(node, source, walked);
    return readEmbedded(node, source, depth, walked);
  }
  if (Array.isArray(node)) {
    // `i in node`: a hole in a sparse array is no value (forEach skipped it, and the count must not change).
    for (let i = 0; i < node.length; i++) if (i in node) walk(node[i], `${source}[${i}]`, depth + 1, walked, mode);
    return;
  }
  if (!isObject(node)) return;
  const firstAmount = facts.amounts.length;
  // The breakdown of an amount: its money (item_total, shipping…) is read, as parts of that amount (partOf).
  const whole = walked.breakdownOf?.get(node);
  const outerInAmount = walked.inAmount;
  if (whole !== undefined) walked.inAmount = 0;
  // An object read as one amount (under `amount`, `price`, in an `amounts` list): what lies in it details that amount.
  const isAmount = walked.amountObjects?.has(node) === true;
  if (isAmount) walked.inAmount++;
  let quantity: Found<unknown> | undefined;
  let moneyValue = false;
  let moneyUnits = false;
  let amountMember = false;
  let items = false;
  let currency = false;
  // Under a mail recipient key, an object with a mailbox member (`{email, name}`) was collected by that member alone
  // (collectRecipients): its other members are read as any params are, or `{email: ok, bcc: [x]}` would send to x
  // unjudged. So is a descriptor (`type`) of any object under a recipient key.
  const mailbox = mode === MAIL && hasAddressMember(node);
  let nameParts: NameParts | undefined;
  let forms: Representations | undefined;
  for (const key of Object.keys(node)) {
    const value = node[key];
    const folded = foldKey(key);
    const here = `${source}.${clipped(key)}`;
    if (QUANTITY_KEYS.has(folded)) quantity = oneQuantity(quantity, { source: here, value });
    nameParts = notePersonNamePart(nameParts, key, folded, value);
    const read = mode === READ || !collectedWhole(mailbox, key, value);
    // A recipient's postal address is read as params whatever its key (`recipient_address`, `to_addresses`): where
    // the recipient is, never a list of recipients.
    const postal = mode !== READ && isPostalAddress(key, value);
    const kind =
      read && !postal ? (recipientKeyKind(folded) ?? (isPhoneKey(key, folded) ? MAIL : undefined)) : undefined;
    if (kind !== undefined) collectRecipients(value, here, 0, facts, kind === PARTY);
    // A key that is an address (a map of address → name) under any key: sent to as surely.
    else if (read) {
      for (const address of addressesIn(key)) facts.recipients.push({ source: `${here} (key)`, value: address });
      if (isNamingKey(folded)) collectPartyNames(folded, value, here, facts);
    }
    const amountsBefore = facts.amounts.length;
    const amountKind = amountKeyKind(folded);
    if (amountKind === "one") {
      if (!isTotalledMoney(value)) facts.amounts.push({ source: here, value });
      // PayPal v1's money object: its total is read below it, and what else it holds breaks that total down.
      else rememberBreakdown(walked, value, totalOf(value, here));
    } else if (amountKind === "minor") facts.amounts.push({ source: here, value, minor: true });
    else if (amountKind === "list") collectAmounts(value, here, facts);
    else collectMoney(key, folded, value, here, facts);
    rememberAmountObjects(walked, amountsBefore);
    if (!isAmount) forms = noteRepresentation(forms, folded, value, here, facts.amounts, amountsBefore);
    // An amount object's own `amount` member is the number parseAmount read (they must agree): the same amount.
    if (isAmount && amountKind === "one") partsOf(facts.amounts, amountsBefore, source);
    if (isAmount && BREAKDOWN_KEYS.has(folded)) rememberBreakdown(walked, value, source);
    // Every currency, not only a scalar one: a currency the policy skipped (`["BTC"]`, `{code: "BTC"}`) would still
    // reach the connector beside an amount judged in the threshold's currency.
    if (isCurrencyKey(folded)) {
      currency = true;
      collectScalars(value, here, facts.currencies);
    } else if (folded === "value" && mayBeMoney(value)) moneyValue = true;
    else if (folded === "units" && mayBeMoney(value)) moneyUnits = true;
    else if (folded === "amount") amountMember = true;
    else if (folded === "items") items = true;
    else if (collectCoin(key, folded, value, here, facts)) currency = true;
    collectJurisdictions(node, key, folded, value, here, facts.jurisdictions);
    walk(value, here, depth + 1, walked, kind ?? (read ? READ : childMode(mode, folded)));
  }
  if (nameParts) facts.names.push(...joinedPersonNames(nameParts, source));
  if (forms) pairRepresentations(forms, facts.amounts, firstAmount);
  if (currency) collectNumericMoney(node, source, facts);
  // Google's Money counts by its units, unless an `amount` beside them is the amount (read by its own rule).
  const money = moneyValue || (moneyUnits && !amountMember && isGoogleMoney(node));
  // Neither an amount read already nor inside one: PayPal's `breakdown` (shipping, handling, discount as money
  // objects) details the `amount` around it, which is what moves.
  if (money && currency && walked.inAmount === 0) facts.amounts.push({ source, value: node });
  if (items && amountMember) itemsOfUnit(node, source, facts.amounts, firstAmount);
  if (isAmount) walked.inAmount--;
  if (whole !== undefined) {
    partsOf(facts.amounts, firstAmount, whole);
    walked.inAmount = outerInAmount;
  }
  if (!quantity) return;
  for (let i = firstAmount; i < facts.amounts.length; i++)
    if (!isLineTotal(facts.amounts[i]!, source, quantity)) timesQuantity(facts.amounts[i]!, quantity);
  if (isAmount) timesOwnQuantity(walked, node, quantity);
  if (!walked.quantityAt) walked.quantityAt = new Map();
  walked.quantityAt.set(source, quantity);
}

/** The amounts of one object (`majors`) and what may write one of them again in minor units (`minors`). */
interface Representations {
  majors: { folded: string; found: Found<unknown> }[];
  minors: { base: string | undefined; found: Found<unknown>; pushed: boolean }[];
}

/**
 * Notes what a member of an object holds of its amounts: an amount just found under its key (`amount`, `price`), or
 * one in minor units (`amount_cents`, `price_cents`: their base `amount`, `price`), or a bare minor-unit member
 * (`cents`, `fractional`: no base, the amount beside them). Most members hold none (no allocation).
 */
function noteRepresentation(
  forms: Representations | undefined,
  folded: string,
  value: unknown,
  here: string,
  amounts: Found<unknown>[],
  before: number,
): Representations | undefined {
  const found = amounts.length === before + 1 && amounts[before]!.source === here ? amounts[before]! : undefined;
  if (found && !found.minor) {
    forms ??= { majors: [], minors: [] };
    forms.majors.push({ folded, found });
  } else if (found && isScalar(value)) {
    const base = minorBase(folded);
    if (base === undefined) return forms;
    forms ??= { majors: [], minors: [] };
    forms.minors.push({ base, found, pushed: true });
  } else if (!found && MINOR_MEMBERS.has(folded) && isScalar(value)) {
    forms ??= { majors: [], minors: [] };
    forms.minors.push({ base: undefined, found: { source: here, value, minor: true }, pushed: false });
  }
  return forms;
}

/** The amount key a minor-unit key writes again (`amountcents` → `amount`, `priceinminorunits` → `price`). */
function minorBase(folded: string): string | undefined {
  const form = MINOR_SUFFIXES.find((suffix) => folded.endsWith(suffix) && folded.length > suffix.length);
  return form === undefined ? undefined : folded.slice(0, -form.length);
}
const MINOR_SUFFIXES = [...MINOR_FORMS].sort((a, b) => b.length - a.length);

/**
 * Pairs each minor-unit form of an object with the amount it writes again: `amount_cents` with `amount`, a bare
 * `cents` with the object's `amount` (with each of its amounts when it has none by that name). A paired form is no
 * amount of its own (removed from the amounts found from `from` on): it must agree with its amount (./amounts.ts).
 */
function pairRepresentations(forms: Representations, amounts: Found<unknown>[], from: number): void {
  if (forms.majors.length === 0 || forms.minors.length === 0) return;
  const named = forms.majors.filter((major) => major.folded === "amount");
  for (const minor of forms.minors) {
    const bare = named.length > 0 ? named : forms.majors;
    const targets = minor.base === undefined ? bare : forms.majors.filter((major) => major.folded === minor.base);
    if (targets.length === 0) continue;
    for (const { found } of targets) {
      if (found.representations) found.representations.push(minor.found);
      else found.representations = [minor.found];
    }
    const at = minor.pushed ? amounts.indexOf(minor.found, from) : -1;
    if (at >= 0) amounts.splice(at, 1);
  }
}

/** Each address a string spells out is judged on its own: a list of 100,000 in one string counts to its bound. */
function readAddresses(text: string, source: string, walked: Walk): void {
  for (const address of addressesIn(text)) {
    if (++walked.addresses > MAX_PARAM_ADDRESSES)
      return fail(walked.facts, `params spell out more than ${MAX_PARAM_ADDRESSES} addresses in their strings`);
    walked.facts.recipients.push({ source, value: address });
  }
}

/**
 * What a string holds besides its text (./embedded-payloads.ts): JSON or form params, walked as if nested at its
 * place (the string's count stands for their root's), and a mail message encoded in it, read as its text.
 */
function readEmbedded(text: string, source: string, depth: number, walked: Walk): void {
  const inner = embeddedIn(text, walked);
  if (inner === undefined) return;
  if ("unreadable" in inner) return fail(walked.facts, `${source} ${inner.unreadable}`);
  for (const decoded of inner.texts ?? []) readAddresses(decoded, `${source}${inner.label}`, walked);
  if (inner.params === undefined) return;
  if (depth > 0) walked.nodes--;
  walk(inner.params, `${source}${inner.label}`, depth, walked);
}

/**
 * PayPal's v1 money object, `amount: {total: "30.11", currency: "USD", details: {subtotal…}}`, and nothing else: its
 * `total` is the amount, read by the walk below it as money (with the subtotal beside it, summed: never less than
 * what moves). Read as one amount it would be no number at all, and the payment unjudgeable. Any other member
 * (Google's `units`, a `cents`, a `value`) keeps the object one amount, which then fails closed unless it reads.
 */
function isTotalledMoney(value: unknown): boolean {
  if (!isObject(value) || Array.isArray(value)) return false;
  let total = false;
  for (const key of Object.keys(value)) {
    const folded = foldKey(key);
    if (folded === "total" && mayBeMoney(value[key])) total = true;
    else if (!(isCurrencyKey(folded) || (folded === "details" && isObject(value[key])))) return false;
  }
  return total;
}

/**
 * Remembers the objects just read as amounts: PayPal's and Google's money shape, `{value: "5000", currency_code:
 * "EUR"}`, is an amount under any key no amount rule reads (`payment`) or as the params themselves, counted once: not
 * again when it sits under `amount` or `price`, nor inside such an amount. A set, not a scan of the amounts found:
 * 5,000 money objects would have cost 12 million comparisons.
 */
function rememberAmountObjects(walked: Walk, from: number): void {
  const amounts = walked.facts.amounts;
  for (let i = from; i < amounts.length; i++) {
    const value = amounts[i]!.value;
    if (!isObject(value)) continue;
    if (!walked.amountObjects) walked.amountObjects = new Map();
    walked.amountObjects.set(value, amounts[i]!);
  }
}

/** The members of an amount that break it down: PayPal v2's `breakdown`, v1's `details` (any spelling). */
const BREAKDOWN_KEYS = new Set(["breakdown", "details"]);

/**
 * Remembers an object that breaks down the amount at `whole`: walked, the money in it is marked a part of that amount
 * (partOf) rather than an amount of its own. A list is no breakdown (its money objects stay unread, as they were).
 */
function rememberBreakdown(walked: Walk, value: unknown, whole: string | undefined): void {
  if (whole === undefined || !isObject(value) || Array.isArray(value)) return;
  if (!walked.breakdownOf) walked.breakdownOf = new Map();
  walked.breakdownOf.set(value, whole);
}

/**
 * The source of the total of PayPal's v1 money object (`{total, currency, details}`, isTotalledMoney), which the
 * object's other money (the `details`' subtotal) breaks down; none with several totals (`total` beside `TOTAL`):
 * then every amount in it adds up.
 */
function totalOf(money: unknown, source: string): string | undefined {
  if (!isObject(money)) return undefined;
  const totals = Object.keys(money).filter((key) => foldKey(key) === "total");
  return totals.length === 1 ? `${source}.${clipped(totals[0]!)}` : undefined;
}

/**
 * A PayPal v2 purchase unit, `{amount: {currency_code, value, breakdown}, items: [{unit_amount, tax, quantity}]}`:
 * its items' money (found from `from` on, each times its quantity) details its `amount`, which PayPal checks against
 * them, rather than adding to it: the items are marked parts of that amount (partOf, group `items`), judged at the
 * larger of the amount and the items' sum (./amounts.ts). Only with one `amount` member, a money object in one
 * currency, and one `items` list whose `unit_amount` and `tax` are money objects in that same currency: amounts in
 * two currencies are never added into one (they stay separate, and a threshold in one currency fails closed on
 * them). An item's other money (`price`, `amount`, a fee) is no member PayPal checks against the amount, and an
 * upstream of another shape may charge it on top: it still adds up.
 */
function itemsOfUnit(unit: Record<string, unknown>, source: string, amounts: Found<unknown>[], from: number): void {
  const amountKeys = Object.keys(unit).filter((key) => foldKey(key) === "amount");
  const itemKeys = Object.keys(unit).filter((key) => foldKey(key) === "items");
  const items = itemKeys.length === 1 ? unit[itemKeys[0]!] : undefined;
  if (amountKeys.length !== 1 || !Array.isArray(items)) return;
  const currency = currencyOf(unit[amountKeys[0]!]);
  if (currency === undefined) return;
  // The items' money objects, found again among the amounts by identity: no string work per amount (a 200-line
  // order's sources cost more to slice and match than the rest of its walk).
  const money = new Set<unknown>();
  for (const item of items)
    if (isObject(item) && !Array.isArray(item))
      for (const key of Object.keys(item))
        if (isObject(item[key]) && ITEM_MONEY.has(foldKey(key))) money.add(item[key]);
  const within = `${source}.${clipped(itemKeys[0]!)}[`;
  const parts = [];
  for (let i = from; i < amounts.length; i++) {
    const amount = amounts[i]!;
    if (amount.partOf !== undefined || !money.has(amount.value) || !amount.source.startsWith(within)) continue;
    if (currencyOf(amount.value) !== currency) return;
    parts.push(amount);
  }
  const whole = `${source}.${clipped(amountKeys[0]!)}`;
  for (const part of parts) {
    part.partOf = whole;
    part.partGroup = "items";
  }
}

// The members of a PayPal item PayPal checks against the unit's amount (item_total and tax_total).
const ITEM_MONEY = new Set(["unitamount", "tax"]);

/** The one currency of a money object (`{currency_code: "usd", value}`: USD); none for several, none or a scalar. */
function currencyOf(money: unknown): string | undefined {
  if (!isObject(money) || Array.isArray(money)) return undefined;
  const codes = new Set<string>();
  for (const key of Object.keys(money)) {
    if (!isCurrencyKey(foldKey(key))) continue;
    const code = money[key];
    if (typeof code !== "string") return undefined;
    codes.add(foldText(code).toUpperCase());
  }
  return codes.size === 1 ? [...codes][0] : undefined;
}

/** Marks the amounts found from `from` on, but those already a part of another, as parts of the amount at `whole`. */
function partsOf(amounts: Found<unknown>[], from: number, whole: string): void {
  for (let i = from; i < amounts.length; i++) {
    const amount = amounts[i]!;
    if (amount.partOf === undefined && amount.source !== whole) amount.partOf = whole;
  }
}

/**
 * An amount object's own quantity multiplies it, as a line's multiplies the price in it: `unit_amount:
 * {currency_code: "EUR", value: "100", quantity: "10"}` moves 1,000 to an upstream that reads the quantity where it
 * stands. The amount was found by the member above the object, before the walk came into it (found again by
 * identity, no scan of the amounts).
 */
function timesOwnQuantity(walked: Walk, node: object, quantity: Found<unknown>): void {
  const amount = walked.amountObjects?.get(node);
  if (amount) timesQuantity(amount, quantity);
}

function timesQuantity(amount: Found<unknown>, quantity: Found<unknown>): void {
  if (amount.quantities) amount.quantities.push(quantity);
  else amount.quantities = [quantity];
}

/**
 * A line's quantity: `quantity`, `qty`, and how many were ordered (Amazon SP-API's `QuantityOrdered`, Magento's
 * `qty_ordered`). Not the other counts beside them (`qty_shipped`, `qty_invoiced`, `quantity_available`,
 * `max_quantity`), nor an order's `total_qty_ordered` (the sum of its lines' quantities: multiplying the order's
 * total by it counted each line again): two quantities of one object must agree (oneQuantity), and these differ.
 */
const QUANTITY_KEYS = new Set(["quantity", "qty", "quantityordered", "qtyordered", "orderedquantity", "orderedqty"]);

/**
 * Whether an amount of a line is the line's total, which its quantity does not multiply (outside review R-d F6):
 * Amazon SP-API's order item (`{QuantityOrdered: 2, ItemPrice: {CurrencyCode: "EUR", Amount: "60.00"}}`) writes
 * ItemPrice and the other money of the item (its shipping, taxes, discounts, COD fee) as the selling price times
 * the quantity ordered (SP-API Orders, OrderItem: "ItemPrice is equal to the selling price of the item multiplied
 * by the quantity ordered"). Only those members, beside that quantity: a unit price (`unit_price`, `price`) beside
 * `QuantityOrdered` or any other quantity is still multiplied, as are the amounts of every other shape.
 */
function isLineTotal(amount: Found<unknown>, source: string, quantity: Found<unknown>): boolean {
  if (!quantity.source.endsWith(".QuantityOrdered") || !amount.source.startsWith(`${source}.`)) return false;
  const member = /^[^.[]*/u.exec(amount.source.slice(source.length + 1))?.[0] ?? "";
  return SP_API_LINE_MONEY.has(member);
}
const SP_API_LINE_MONEY = new Set([
  "ItemPrice",
  "ShippingPrice",
  "ItemTax",
  "ShippingTax",
  "ShippingDiscount",
  "ShippingDiscountTax",
  "PromotionDiscount",
  "PromotionDiscountTax",
  "CODFee",
  "CODFeeDiscount",
]);

/**
 * The one quantity of an object: `{quantity: 1, QTY: 50}` names two, and an upstream reading keys in any case may
 * take either, so they must agree; when they do not, the quantity is none a policy can read (its amounts then fail
 * closed).
 */
function oneQuantity(before: Found<unknown> | undefined, found: Found<unknown>): Found<unknown> {
  if (!before || Object.is(before.value, found.value)) return before ?? found;
  return { source: `${before.source} and ${found.source}`, value: undefined };
}

/**
 * The addresses a string under no recipient key spells out in full: a bare address (`x@evil.example`, also one a
 * rule then refuses, such as `mailto:x@evil.example`), a list of them (`a@acme.com, x@evil.example`, one per line,
 * or separated by spaces alone, also in a `Bcc:` header line), or one in angle brackets (`Bob <x@evil.example>`,
 * and an address beside it: `"y@evil.example" <x@acme.com>` names both).
 * A connector may send any param as a recipient (`notify`, `owner`, `escalation_contact`…): with counterparty
 * rules, every address the action carries must pass them. Text that merely mentions an address among words ("write
 * to x@evil.example") is no recipient, nor a handle (`@bob`) or a URL (`https://host/@bob`).
 */
function addressesIn(text: string): string[] {
  if (!holdsAt(text)) return [];
  const found: string[] = [];
  // A group ends with `;` (`team: a@x.example, b@x.example;`). Without one, `Re: jane@customer.example` is a subject
  // line, not a group: its address is no recipient.
  const groups = text.includes(";");
  for (const part of text.split(ADDRESS_SEPARATORS)) {
    // An angle address left open at the end (`Bob <x@evil.example`) is read as closed, as lenient parsers read it.
    const bracketed = [...part.matchAll(/<([^<>]*)(?:>|$)/gu)].map((m) => (m[1] as string).trim());
    // Beside angle brackets, a display name's address counts too (`"x@evil.example" <ok@acme.com>`): a lenient
    // parser may send to it, and under a mail key such a string is judged whole (mailboxesIn).
    const candidates = bracketed.length > 0 ? [...bracketed, ...besideBrackets(part)] : spacedList(part);
    // RFC 5322 quoted strings, comments and a group's name are no words of prose: `x@evil.example (Boss)`, `(Boss)
    // x@evil.example`, `"Boss" x@evil.example` and `team: x@evil.example;` each name x@evil.example to a parser
    // (Python's getaddresses, nodemailer's addressparser). Their addresses are added, never put in place of the
    // part's own candidates.
    const outside = bracketed.length > 0 ? part.replace(ANGLE_ADDRESS, " ") : part;
    const syntax = addressSyntaxOf(outside, groups);
    if (syntax.text !== outside) candidates.push(...spacedList(syntax.text));
    // A comment left open (`(Boss x@evil.example`) runs to the end: a lenient parser reads the addresses in it.
    if (syntax.unclosed !== undefined) candidates.push(...syntax.unclosed.split(/[\s()]+/u));
    for (const candidate of candidates) if (isBareAddress(candidate)) found.push(candidate);
  }
  return found;
}

/**
 * A list part without its RFC 5322 quoted strings (a display name), its comments (`(…)`, nested) and, in a list that
 * has groups or in a recipient header line, the names opening it (`team:`, and a header's own before a group: `To:
 * friends:`, whose member was read as prose); and the text of a comment left open at the end.
 * Quoted strings go first: a `(` inside one opens no comment. One pass each: a part may be a megabyte of brackets.
 */
function addressSyntaxOf(part: string, groups: boolean): { text: string; unclosed?: string } {
  const unquoted = part.includes('"') ? part.replace(QUOTED_STRING, " ") : part;
  const { text, unclosed } = unquoted.includes("(") ? withoutComments(unquoted) : { text: unquoted };
  // A header line's name with no group after it is left to spacedList, which reads its value: stripped here too, its
  // addresses were counted twice.
  const header = groups ? null : HEADER_LINE.exec(text);
  const grouped = groups || (header !== null && GROUP_NAME.test(header[1] as string));
  return { text: grouped ? text.replace(GROUP_NAME, " ") : text, ...(unclosed !== undefined ? { unclosed } : {}) };
}
const QUOTED_STRING = /"[^"]*"/gu;
// An angle address, also one left open at the end (read as closed, as above).
const ANGLE_ADDRESS = /<[^<>]*(?:>|$)/gu;

/**
 * The text outside parentheses, each comment a space (`a(b)c` is two words to a parser too), and the text of a
 * comment still open at the end. The pieces are joined once: appending to one string per comment left a rope of a
 * million pieces for the collector.
 */
function withoutComments(text: string): { text: string; unclosed?: string } {
  const pieces: string[] = [];
  let depth = 0;
  let from = 0;
  let openedAt = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === OPEN) {
      if (depth++ === 0) {
        if (i > from) pieces.push(text.slice(from, i));
        openedAt = i;
      }
    } else if (c === CLOSE && depth > 0 && --depth === 0) from = i + 1;
  }
  if (depth > 0) return { text: pieces.join(" "), unclosed: text.slice(openedAt + 1) };
  if (from < text.length) pieces.push(text.slice(from));
  return { text: pieces.join(" ") };
}
const OPEN = 0x28;
const CLOSE = 0x29;
// The names opening a part: each words (no address, quote or bracket in them) then `:`, as many as there are: a
// header's name before a group's (`To: friends:`), a group in a group (nodemailer reads its members too).
const GROUP_NAME = /^(?:\s*[^\s:@<>"()[\]]+(?:\s+[^\s:@<>"()[\]]+)*\s*:)+/u;

/**
 * The addresses beside a part's angle brackets: its text outside them, quotes aside, read as spacedList reads a
 * part (every word an address, or none counts). A display name that is an address counts (`"x@evil.example"
 * <ok@acme.com>`, also when a comma split its quotes: `"Doe, x@evil.example" <ok@acme.com>`); prose around a
 * bracketed address ("ticket from jane@customer.example: reply to Support <support@acme.example>") names no one.
 */
const besideBrackets = (part: string) => spacedList(part.replace(/<[^<>]*>|"/gu, " "));

/**
 * A part's words when every one of them is an address (`a@acme.com x@evil.com`: a list separated by spaces, as
 * a recipient key's value is read by ../normalize.ts), also after a header name (`Bcc: x@evil.com` in a raw
 * header block the connector may send as it is), else the part as one candidate: prose that mentions an address
 * among other words stays no recipient.
 */
function spacedList(part: string): string[] {
  const header = HEADER_LINE.exec(part);
  const words = (header ? (header[1] as string) : part).trim().split(/\s+/u);
  const list = header !== null || words.length > 1;
  return list && words.every(isBareAddress) ? words : [part.trim()];
}

/**
 * A mail header that names recipients (`Bcc:`, `Reply-To:`, `Resent-To:`, any case, also `Bcc :` as RFC 5322's
 * obsolete syntax allows), and its value.
 */
const HEADER_LINE = /^\s*(?:(?:resent-)?(?:to|cc|bcc)|reply-to|from|sender|delivered-to|envelope-to)\s*:(.*)$/isu;

/** What separates the addresses of a list: commas, semicolons, line breaks, tabs, NUL and other controls. */
const ADDRESS_SEPARATORS = /[,;\p{Cc}\u2028\u2029]/u;

const isBareAddress = (text: string) =>
  holdsAt(text) && !/\s/u.test(text) && !text.includes("://") && !/^[@\uFE6B\uFF20]/u.test(text);

/** The recipients a value under a recipient key stands for (`party`: a payee's, whose every member names it). */
function collectRecipients(value: unknown, source: string, depth: number, facts: ActionFacts, party: boolean): void {
  if (depth > MAX_PARAM_DEPTH) return fail(facts, `recipients are nested deeper than ${MAX_PARAM_DEPTH}`);
  if (isScalar(value)) {
    // Under a mail key, `Bob <a@acme.example>, c@acme.example` names two mailboxes; judged whole, its display names
    // were recipients too (denied under every allowlist). A payee's string is its name, judged whole.
    const list = !party && typeof value === "string" ? mailboxesIn(value) : undefined;
    for (const one of list?.mailboxes ?? [String(value)]) facts.recipients.push({ source, value: one });
    for (const name of list?.names ?? []) facts.names.push({ source: `${source} (display name)`, value: name });
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++)
      if (i in value) collectRecipients(value[i], `${source}[${i}]`, depth + 1, facts, party);
    return;
  }
  if (!isObject(value)) return;
  // Under a mail key, `{email}` / `{address}` name the mailbox, and its other members (a display name) are not sent
  // to as a whole: the walk reads them as it reads any params (a recipient key or an address among them counts:
  // `mailbox` in walk). An `address` that is an object is a postal one: then every member counts, the name too.
  // Under a party key every member counts (a payee's `name`, `merchant_id`), a descriptor (`type`, a postal address
  // object) aside.
  const mailbox = !party && hasAddressMember(value);
  if (mailbox) collectDisplayNames(value, source, facts);
  for (const key of Object.keys(value))
    if (collectedWhole(mailbox, key, value[key]))
      collectRecipients(value[key], `${source}.${clipped(key)}`, depth + 1, facts, party || isPartyKey(foldKey(key)));
  // A key holding an `@` is an address: a connector may read the object as a map of address → display name.
  for (const key of Object.keys(value))
    if (holdsAt(key)) facts.recipients.push({ source: `${source}.${clipped(key)} (key)`, value: key });
}

/**
 * The mailboxes a string under a mail key names in RFC 5322 list form (Mailgun's `to: "Bob <a@acme.example>,
 * c@acme.example"`): of each element the address in angle brackets, or the element when it is a bare address. A
 * display name, quoted (`"Doe, Jane"`) or not, is no recipient. Undefined, and the string then judged whole (every
 * word of it a recipient: an allowlist denies, a blocklist sees each), unless it is cleanly such a list: no `<` at
 * all, a quoted-pair or a control or invisible character, a comment, a group, text beside an angle address, a bracket
 * or quote left open, and a display name holding an address are not. A lenient parser may send to that last one,
 * so judged whole it is judged too: `"evil@x.com" <a@acme.example>` does not pass as a@acme.example alone, and
 * `"a@acme.example" <evil@x.com>` is judged at evil@x.com, where it is sent. One pass and no backtracking pattern:
 * the string may be a megabyte.
 */
function mailboxesIn(text: string): MailboxList | undefined {
  if (!text.includes("<") || UNCLEAN_LIST.test(text) || ENCODED_TEXT.test(text)) return undefined;
  const elements = listElements(text, MAX_PARAM_NODES);
  if (!elements) return undefined;
  const found: MailboxList = { mailboxes: [], names: [] };
  for (const element of elements) {
    const trimmed = element.trim();
    if (trimmed === "") continue; // `a@x.io, , b@x.io`: an empty element names no one (RFC 5322's obs-mbox-list)
    const mailbox = mailboxOf(trimmed);
    if (mailbox === undefined) return undefined;
    found.mailboxes.push(mailbox.address);
    if (mailbox.name.trim() !== "") found.names.push(mailbox.name.trim());
  }
  return found.mailboxes.length > 0 ? found : undefined;
}

/** A mail list's mailboxes, and the display names beside them (ActionFacts `names`: a blocklist judges them). */
interface MailboxList {
  mailboxes: string[];
  names: string[];
}
// A quoted-pair (`\"`) lets a quote or a bracket mean two things to two parsers; a control character (a line break
// starting a `Bcc:` header) or an invisible one is never in a clean list.
const UNCLEAN_LIST = /[\\\p{Cc}\p{Cf}\u2028\u2029]/u;
// An RFC 2047 encoded word (`=?utf-8?q?evil=40x.example?=`) or an HTML character reference (`evil&#x40;x.example`):
// a display name a parser decodes into an address, which a check of its raw text would not see.
const ENCODED_TEXT = /=\?|&(?:#|[a-z][a-z0-9]*;)/iu;

/**
 * The elements of a list, split at each `,` or `;` outside quotes and angle brackets; undefined if unbalanced or
 * longer than `limit` (given up at once: a megabyte of commas would otherwise make a million strings first).
 */
function listElements(text: string, limit: number): string[] | undefined {
  const elements: string[] = [];
  let start = 0;
  let quoted = false;
  let angled = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) quoted = c !== '"';
    else if (c === '"') {
      if (angled) return undefined;
      quoted = true;
    } else if (c === "<" || c === ">") {
      if (angled === (c === ">")) angled = !angled;
      else return undefined;
    } else if ((c === "," || c === ";") && !angled) {
      if (elements.length === limit) return undefined;
      elements.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted || angled || elements.length === limit) return undefined;
  elements.push(text.slice(start));
  return elements;
}

/**
 * The address and display name of one trimmed list element (`Bob <a@x.io>`, `"Doe, Jane" <j@x.io>`, `a@x.io`), if
 * it is clean.
 */
function mailboxOf(element: string): { address: string; name: string } | undefined {
  let display: string;
  let rest: string;
  if (element.startsWith('"')) {
    const close = element.indexOf('"', 1);
    display = element.slice(1, close);
    rest = element.slice(close + 1).trimStart();
    if (!rest.startsWith("<")) return undefined;
  } else {
    const open = element.indexOf("<");
    if (open < 0)
      return isBareAddress(element) && !NOT_IN_ADDRESS.test(element) ? { address: element, name: "" } : undefined;
    display = element.slice(0, open);
    rest = element.slice(open);
    if (NOT_IN_PHRASE.test(display)) return undefined;
  }
  if (holdsAt(display)) return undefined;
  const close = rest.indexOf(">");
  if (rest.slice(close + 1).trim() !== "") return undefined;
  const address = rest.slice(1, close).trim();
  return isBareAddress(address) && !NOT_IN_ADDRESS.test(address) ? { address, name: display } : undefined;
}
// What an unquoted display name (RFC 5322 words, and `.`) cannot hold: a quote, a comment, a group's `:`, a bracket.
const NOT_IN_PHRASE = /["()[\]:<>]/u;
// Quoting, a comment or a list separator inside an address: then it is not one mailbox.
const NOT_IN_ADDRESS = /["()<>,;]/u;

/**
 * Whether a member of an object under a recipient key is collected as recipients whole (every string in it): the
 * mailbox of an object that has one, else every member but a scalar that describes the payment rather than names
 * its party (Circle's `destination: {type: "wallet", id, chain}` pays the id, not "wallet"; a payee's `reference`,
 * `currency` or `country` names no one), and a postal address object or a list of them (isPostalAddress). The
 * others are read by the walk as any params are (an address in them still counts, a currency or a country by its
 * own rule).
 */
function collectedWhole(mailbox: boolean, key: string, value: unknown): boolean {
  if (mailbox) return isAddressMember(key, value) || ACCOUNT_MEMBERS.has(foldKey(key));
  if (!isScalar(value)) return !isPostalAddress(key, value);
  const folded = foldKey(key);
  return !(DESCRIPTOR_KEYS.has(folded) || isCurrencyKey(folded) || isJurisdictionKey(folded));
}
const DESCRIPTOR_KEYS = new Set(["type", "kind", "chain", "network", "reference", "memo", "description", "note"]);

/**
 * A recipient's postal address (Stripe's `{line1, line2, city, state, postal_code, country}`, Wise's `{firstLine,
 * city, postCode, countryCode}`, PayPal's `{address_line_1, admin_area_2, country_code}`, Adyen's `{street,
 * houseNumberOrName, stateOrProvince}`), as a member of a payee's or a mail recipient's object: where the party is,
 * not who it is. Collected, its street, city and code were counterparties: a new one per payee's address under
 * escalate_new_counterparties, denied by every allowlist. Read as params instead: its country by the jurisdiction
 * rule, an address spelled out in it as a recipient. Only an object under a key that names an address (`address`,
 * `billing_address`, `registeredAddress`, `addresses`) made of postal members alone, each a scalar or null (Google's
 * and FedEx's lines a list of scalars), or a list of such objects: any other member (`name`, `attention`, `iban`,
 * an object, a key in another script) may name the party, and keeps the whole object counted, as does any other key
 * (`account: {city}`). A string `address` is no such object: under a destination or a wallet it is where the money
 * lands. Only a member of a recipient's object (the caller's): a postal object that is the recipient itself (`to:
 * {line1, city}`, a letter's) is where the action goes, and counts.
 */
function isPostalAddress(key: string, value: unknown): boolean {
  if (!isObject(value) || !POSTAL_KEY.test(foldKey(key))) return false;
  if (!Array.isArray(value)) return isPostalObject(value);
  // `addresses: [{line1…}, {line1…}]`: every element one (a hole or a null is none, and keeps the list counted).
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) if (!(i in value) || !isPostalObject(value[i])) return false;
  return true;
}

/** An object of postal members alone (isPostalAddress), each a scalar or null, its lines a list of scalars. */
function isPostalObject(value: unknown): boolean {
  if (!isObject(value) || Array.isArray(value)) return false;
  const members = Object.keys(value);
  for (const name of members) {
    const member = value[name];
    const folded = foldKey(name);
    if (POSTAL_LINES.has(folded) && Array.isArray(member) && member.every(isScalar)) continue;
    if (member !== null && !isScalar(member)) return false;
    if (!(POSTAL_MEMBERS.has(folded) || isJurisdictionKey(folded))) return false;
  }
  return members.length > 0;
}
const POSTAL_KEY = /(?:address|addresses|addr|addrs)$/u;
const POSTAL_MEMBERS = new Set([
  ...["line1", "line2", "line3", "addressline1", "addressline2", "addressline3", "address1", "address2", "address3"],
  ...["firstline", "street", "street1", "street2", "streetaddress", "streetname", "streetnumber", "housenumber"],
  ...["building", "buildingnumber", "city", "town", "locality", "dependentlocality", "sublocality", "district"],
  ...["suburb", "county", "state", "province", "region", "administrativearea", "postalcode", "postcode", "zip"],
  ...["zipcode", "sortingcode"],
  // PayPal's `admin_area_1` (state) to `admin_area_4`; Adyen's `houseNumberOrName`, `stateOrProvince`; FedEx's
  // `stateOrProvinceCode`; Lob's `address_city`, `address_state`, `address_zip`.
  ...["adminarea1", "adminarea2", "adminarea3", "adminarea4", "housenumberorname", "stateorprovince"],
  ...["stateorprovincecode", "statecode", "provincecode", "addresscity", "addressstate", "addresszip"],
  ...["apartment", "suite", "floor", "neighborhood", "neighbourhood", "postalcodeext", "zip4"],
  // Google's PostalAddress: its country is its `regionCode` (a jurisdiction: collectJurisdictions).
  "regioncode",
]);
// A postal address's lines as a list (Google's PostalAddress `addressLines`, FedEx's `streetLines`).
const POSTAL_LINES = new Set(["addresslines", "streetlines", "lines"]);
// Beside a mailbox, where money lands all the same (a payout `recipient: {email, account}` pays the account).
const ACCOUNT_MEMBERS = new Set(["account", "accounts", "accountid", "accountnumber", "iban"]);

/**
 * The mode below a member the walk does not read (collectRecipients took it whole): a party's under a party key
 * (`recipients: [{payee: {email, name}}]` pays the name), else the mode around it.
 */
const childMode = (mode: Mode, folded: string): Mode => (mode === MAIL && isPartyKey(folded) ? PARTY : mode);

/** A member that names an object's mailbox: a scalar `email`, `address` or `email_address` (any spelling). */
const isAddressMember = (key: string, value: unknown) => isScalar(value) && ADDRESS_KEYS.has(foldKey(key));
const hasAddressMember = (node: Record<string, unknown>) =>
  Object.keys(node).some((key) => isAddressMember(key, node[key]));

/**
 * The display names of a mailbox object (`{email, name}`, Graph's `{address, name}`, `display_name`, `full_name`,
 * `company`): no recipients, but judged by a blocklist (ActionFacts `names`), as the display name of a mail list
 * string is. Every scalar member named so (a name in any spelling): a blocklist judging one too many is a false
 * DENY at worst.
 */
function collectDisplayNames(node: Record<string, unknown>, source: string, facts: ActionFacts): void {
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (!isScalar(value) || !isDisplayNameKey(foldKey(key))) continue;
    facts.names.push({ source: `${source}.${clipped(key)}`, value: String(value) });
  }
}
const isDisplayNameKey = (folded: string) => folded.endsWith("name") || NAME_KEYS.has(folded);
const NAME_KEYS = new Set(["names", "company", "organization", "organisation", "org"]);

/**
 * The name of a party a payment or a message goes to, under a key that says whose (`merchant_name`, `vendorName`,
 * `merchant_dba_name`, `to_name`, `account_holder_name`, `payee_legal_name`), or the party under its role
 * (`merchant: "Evil Corp"`, `vendor: {id, name}`, QuickBooks' `VendorRef: {value, name}`, Stripe's
 * `customer_details`, `merchant_data`: its display-name members, as of a mailbox object, and those of the objects
 * and lists inside it, `merchant: {profile: {name}}`, `vendors: [{accounts: [{name}]}]`), or a statement
 * descriptor (what the payee's statement shows: the merchant's name, isStatementDescriptorKey): names (ActionFacts `names`),
 * judged by a counterparty blocklist alone. No recipients: a name is no proof of whom the connector reaches, which
 * an allowlist judges by the account or the mailbox. But a card payment to `merchant_name: "Evil Corp"` is what a
 * blocklist of Evil Corp is there to stop. Not prose (`description`, `note`, `memo`: no party key), nor a party
 * key's members (recipients already: `payee`, `beneficiary_name`, `counterparty`).
 */
function collectPartyNames(folded: string, value: unknown, source: string, facts: ActionFacts): void {
  const from = facts.names.length;
  if (!isRoleKey(folded) || !isObject(value)) pushNames(value, source, facts);
  else collectRoleNames(value, source, facts, 0);
  if (isStatementDescriptorKey(folded)) descriptorPieces(facts, from);
}

/**
 * A party object's display names (as collectDisplayNames), and those of its parts (isPartyPart: a merchant's
 * `profile`, Stripe's `business_profile`, a vendor's `accounts`, which name the same party or the account the payment
 * reaches it by), each element of a list a party or a part of one. Not its other objects (a `logo: {name:
 * "logo.png"}`, its `products`), nor those the walk reads by their own key (`merchant_name`, a nested `vendor`), nor
 * a recipient key's (read as recipients). A list's scalars are names each.
 */
function collectRoleNames(party: object, source: string, facts: ActionFacts, depth: number): void {
  // The walk reports params this deep as incomplete (every rule then fails closed): nothing more to read here.
  if (depth > MAX_PARAM_DEPTH) return;
  if (Array.isArray(party)) {
    for (let i = 0; i < party.length; i++) {
      const element: unknown = party[i];
      if (isObject(element)) collectRoleNames(element, `${source}[${i}]`, facts, depth + 1);
      else if (isScalar(element)) facts.names.push({ source: `${source}[${i}]`, value: String(element) });
    }
    return;
  }
  const members = party as Record<string, unknown>;
  for (const key of Object.keys(members)) {
    const folded = foldKey(key);
    const value = members[key];
    const name = isDisplayNameKey(folded);
    const part = isObject(value) && isPartyPart(folded);
    // Most members are neither (`id`, `url`): asked first, the look-ups after it run for the few that are.
    if (!(name || part) || isNamingKey(folded) || recipientKeyKind(folded) !== undefined) continue;
    if (name) pushNames(value, `${source}.${clipped(key)}`, facts);
    // `company: {name, tax_id}` is a name (its members joined) and a part whose `name` is the party's.
    if (part) collectRoleNames(value, `${source}.${clipped(key)}`, facts, depth + 1);
  }
}

/**
 * A member of a party's object that is the party itself in more detail (`profile`, `business_profile`, `company`,
 * `legal_entity`, `details`), or an account of it (`accounts`, `bank_account`, `external_accounts`): a name in it
 * names that party.
 */
const isPartyPart = (folded: string) =>
  PARTY_PARTS.has(folded) || folded.endsWith("profile") || folded.endsWith("account") || folded.endsWith("accounts");
const PARTY_PARTS = new Set([
  ...["business", "businessdetails", "businessinfo", "company", "companydetails", "legalentity", "entity"],
  ...["details", "info", "data", "identity", "individual", "organization", "organisation"],
]);

/**
 * A name as an upstream may read it: a scalar; each scalar of a list (`["Evil Corp"]`, which a lenient upstream
 * reads as its one element); an object's scalar members joined in order, one name (PayPal's `{given_name: "Evil",
 * surname: "Corp"}` is Evil Corp, `{full_name}`). Deeper values name no one here (the walk reads their addresses).
 */
function pushNames(value: unknown, source: string, facts: ActionFacts): void {
  if (isScalar(value)) facts.names.push({ source, value: String(value) });
  else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++)
      if (isScalar(value[i])) facts.names.push({ source: `${source}[${i}]`, value: String(value[i]) });
  } else if (isObject(value)) {
    const words = Object.values(value).filter(isScalar).map(String);
    if (words.length > 0) facts.names.push({ source, value: words.join(" ") });
  }
}

/**
 * A statement descriptor's pieces around its `*`, each a name too: a card statement shows Stripe's prefix and
 * suffix as `ACME* EVIL CORP`, PayPal's soft descriptor as `PAYPAL *EVIL CORP`, and Evil Corp is the merchant named.
 */
function descriptorPieces(facts: ActionFacts, from: number): void {
  const { names } = facts;
  const end = names.length;
  for (let i = from; i < end; i++) {
    const name = names[i]!;
    name.descriptor = true;
    const { source, value } = name;
    if (!value.includes("*")) continue;
    const pieces = value.split("*", MAX_DESCRIPTOR_PIECES + 1);
    // A card statement shows a few pieces; thousands (`a*a*a*…`, a 1 MB value made 330,000 names, each judged
    // against the blocklist) are no descriptor: the params are not read completely, and the rules fail closed.
    if (pieces.length > MAX_DESCRIPTOR_PIECES)
      return fail(facts, `${clipped(source)} has more than ${MAX_DESCRIPTOR_PIECES} "*"-separated pieces`);
    for (const piece of pieces) if (piece.trim() !== "") names.push({ source, value: piece.trim(), descriptor: true });
  }
}

/** More pieces than any statement shows (Stripe: prefix* suffix; PayPal: PAYPAL *name). */
const MAX_DESCRIPTOR_PIECES = 16;

/**
 * A statement descriptor: what the payee's card or bank statement shows of the payment, the merchant's name (Stripe's
 * `statement_descriptor`, its `_suffix`, `_prefix`, `_kana` and `_kanji` forms and the `calculated_` one, PayPal's
 * `soft_descriptor`, Checkout.com's `billing_descriptor: {name, city}`, Braintree's `descriptor: {name, phone, url}`,
 * Adyen's `shopperStatement`). A name, never prose: a blocklisted merchant named on the statement is the one paid.
 */
const STATEMENT_DESCRIPTORS = new Set([
  ...["", "calculated"].flatMap((pre) =>
    ["", "suffix", "prefix"].flatMap((part) =>
      ["", "kana", "kanji"].map((script) => `${pre}statementdescriptor${part}${script}`),
    ),
  ),
  ...["softdescriptor", "billingdescriptor", "dynamicdescriptor", "descriptor", "shopperstatement"],
]);
const isStatementDescriptorKey = (folded: string) => STATEMENT_DESCRIPTORS.has(folded);

// Whose party a payment or a message reaches: a shop's, a bill's, an invoice's, a bank account's holder, a parcel's.
// And the marketplace's: the seller a line is `sold_by` (Amazon), the shop or store that sells it (Shopify's `shop`,
// Etsy's `shop_name`), a payment facilitator's sub-merchant, the merchant of record whose name the card statement
// shows (Adyen's `subMerchants: [{id, name, mcc}]`, `subMerchant.subSeller1.name`: SUB_SELLER_NAME).
const PARTY_ROLES = [
  "merchant",
  "vendor",
  "supplier",
  "seller",
  "biller",
  "customer",
  "accountholder",
  "shipto",
  "billto",
  "soldby",
  "shop",
  "store",
  "submerchant",
  "subseller",
];
// `merchant_dba_name`, `vendorDoingBusinessAs`: the name a business trades under (doing business as).
const NAME_FORMS = [
  ...["name", "names", "displayname", "fullname", "legalname", "businessname", "companyname"],
  ...["dba", "dbaname", "doingbusinessas"],
];
const PARTY_NAME_KEYS = new Set([
  ...[...PARTY_ROLES, "holder", "to", "recipient", "payee", "beneficiary", "creditor", "counterparty", "receiver"]
    .flatMap((role) => [...NAME_FORMS, "tradingname", "registeredname"].map((form) => role + form))
    // The party keys' own `_name` (`payee_name`, `beneficiary_name`): recipients, read as such.
    .filter((key) => !isPartyKey(key)),
  // The name a bank checks a payment against (UK Confirmation of Payee, SEPA's Verification of Payee), and a
  // business's trading name on its own.
  ...["nameonaccount", "accountname", "accountholdername", "dbaname", "doingbusinessas"],
]);
// A party under its role, or under its role's details (`merchant_details`, `customerInfo`, `VendorRef`, a merchant's
// `profile`, Stripe Issuing's `merchant_data: {name, city}`), and a statement descriptor (read as a role: its
// object's name members are names, `{name, city}`).
const PARTY_ROLE_KEYS = new Set([
  ...PARTY_ROLES.flatMap((role) => ["", "s", "details", "info", "ref", "profile", "data"].map((form) => role + form)),
  ...STATEMENT_DESCRIPTORS,
]);
// Both, for the walk's one look-up per key.
const NAMING_KEYS = new Set([...PARTY_NAME_KEYS, ...PARTY_ROLE_KEYS]);

/**
 * Who owns a party, under any role: `owner: {name}`, `owners: [{name}]`, Shopify's `shop_owner`, Stripe Financial
 * Connections' account `owner: {name, email}`, `beneficial_owners`, `ultimate_beneficial_owner`. A blocklist of Evil
 * Corp is there to stop paying what Evil Corp owns as much as Evil Corp (`merchant: {owner: {name: "Evil Corp"}}`);
 * judged, an owner named so is a false DENY at worst. A role (its object's names are read as a party's), or its name
 * (`owner_name`, `shopOwnerFullName`).
 */
const OWNER_ROLE = /owners?(?:details|info|profile|data)?$/u;
const OWNER_NAME = /owners?(?:name|names|displayname|fullname|legalname)$/u;
// Adyen's flat `additionalData` keys of a payment facilitator's sub-sellers: `subMerchant.subSeller1.name`.
const SUB_SELLER_NAME = /^submerchantsubseller\d*name$/u;

/** A role key (collectPartyNames reads its object as a party's). Most keys hold no `owner`: no pattern for them. */
const isRoleKey = (folded: string) =>
  PARTY_ROLE_KEYS.has(folded) || (folded.includes("owner") && OWNER_ROLE.test(folded));

/** A key whose value names a party (collectPartyNames): a role, or a name under a key that says whose. */
const isNamingKey = (folded: string) =>
  NAMING_KEYS.has(folded) ||
  (folded.includes("owner") && (OWNER_ROLE.test(folded) || OWNER_NAME.test(folded))) ||
  (folded.startsWith("submerchant") && SUB_SELLER_NAME.test(folded));

/** Each element of an `amounts` list (or the value itself when it is not one) is an amount. */
function collectAmounts(value: unknown, source: string, facts: ActionFacts): void {
  if (!Array.isArray(value)) {
    facts.amounts.push({ source, value });
    return;
  }
  for (let i = 0; i < value.length; i++)
    if (i in value) facts.amounts.push({ source: `${source}[${i}]`, value: value[i] });
}

/**
 * Money under a word that names money only beside a currency (`sum`, `principal`, `payout`, and compounds ending in
 * one: `OutSum`, `loan_principal`; ./money-keys.ts isNumericMoneyKey): a number or a numeric string of an object that
 * also holds a currency. Alone they are as often a checksum, a security principal or a flag (`sum: "a3f9…"`,
 * `principal: "arn:aws:iam::…"`, `payout: true`), which read as money would be refused as unverifiable.
 */
function collectNumericMoney(node: Record<string, unknown>, source: string, facts: ActionFacts): void {
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (isNumericMoneyKey(key, foldKey(key)) && isNumericMoney(value))
      facts.amounts.push({ source: `${source}.${clipped(key)}`, value });
  }
}

/**
 * Money `sum` and its kin may hold beside a currency: a number, or a string with a digit, judged or refused as
 * unverifiable as a money object's `value` is (`5,000.00`; `5000 EUR`, `€5000`, `5e3`: a lenient upstream,
 * parseFloat or PHP's float cast, reads 5000 from each; outside review R-d F2). Not a hash (`sha_sum: "9f86d081…"`,
 * hex letters and digits alone), an identifier (`sum_1Ab`), an ARN or a path (`principal: "arn:aws:iam::…"`).
 */
function isNumericMoney(value: unknown): boolean {
  if (typeof value === "number") return true;
  if (typeof value !== "string" || !mayBeMoney(value) || NO_MONEY_TEXT.test(value)) return false;
  return !(HEX_RUN.test(value) && /[a-f]/iu.test(value));
}
const NO_MONEY_TEXT = /[:/@\\]/u;
const HEX_RUN = /^[0-9a-f]{8,}$/iu;

/** A currency under `coin`, `asset`, `curr`, `denomination` or `unit` (./money-keys.ts coinKeyKind): whether one. */
function collectCoin(key: string, folded: string, value: unknown, source: string, facts: ActionFacts): boolean {
  const kind = coinKeyKind(key, folded);
  const currency = kind === undefined ? undefined : coinCurrency(kind, value);
  if (currency === undefined) return false;
  facts.currencies.push({ source, value: currency });
  return true;
}

/** Money under a money word (`price`, `fees`, `total_cents`…, ./money-keys.ts): each value that may be money. */
function collectMoney(key: string, folded: string, value: unknown, source: string, facts: ActionFacts): void {
  const kind = moneyKeyKind(key, folded);
  if (kind === undefined) {
    if (holdsMoneyObjects(folded)) collectMoneyObjects(value, source, facts);
    return;
  }
  const minor = kind === "minor" || kind === "minorlist" ? { minor: true as const } : {};
  if ((kind === "list" || kind === "minorlist") && Array.isArray(value)) {
    for (let i = 0; i < value.length; i++)
      if (i in value && mayBeMoney(value[i]))
        facts.amounts.push({ source: `${source}[${i}]`, value: value[i], ...minor });
  } else if (mayBeMoney(value)) facts.amounts.push({ source, value, ...minor });
}

/** The money objects (./money-keys.ts isMoneyObject) of a `payment` or `money` value, or of each element of a list. */
function collectMoneyObjects(value: unknown, source: string, facts: ActionFacts): void {
  if (!Array.isArray(value)) {
    if (isMoneyObject(value)) facts.amounts.push({ source, value });
    return;
  }
  for (let i = 0; i < value.length; i++)
    if (i in value && isMoneyObject(value[i])) facts.amounts.push({ source: `${source}[${i}]`, value: value[i] });
}

/**
 * Whether a key or a string names an address: an `@`, in any width (＠ and ﹫, the only characters NFKC folds to
 * it: tested as characters, so the walk normalises no string param to find out), or percent-encoded (`%40`, which
 * the policy then refuses as a recipient rather than leave unread).
 */
const holdsAt = (text: string) => HOLDS_AT.test(text);
const HOLDS_AT = /[@\uFE6B\uFF20]|%40/iu;

function collectScalars(value: unknown, source: string, into: Found<string>[]): void {
  if (isScalar(value)) into.push({ source, value: String(value) });
  else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (i in value) collectScalars(value[i], `${source}[${i}]`, into);
  } else if (value !== null && value !== undefined) into.push({ source, value: JSON.stringify(value) });
}

/**
 * The values at a declared dot path. A segment matches keys equal to it in any letter case (as the well-known
 * keys do); on an array, a numeric segment indexes it and any other segment applies to every element.
 */
export function resolvePath(params: unknown, path: string): Found<unknown>[] {
  let current: Found<unknown>[] = [{ source: "", value: params }];
  for (const segment of path.split(".").filter(Boolean)) {
    const next: Found<unknown>[] = [];
    for (const { source, value } of current) next.push(...step(value, segment, source));
    current = next;
  }
  return current.filter((hit) => hit.source !== "" && hit.value !== undefined);
}

function step(value: unknown, segment: string, source: string): Found<unknown>[] {
  const join = (key: string) => (source ? `${source}.${clipped(key)}` : clipped(key));
  if (Array.isArray(value)) {
    if (/^\d+$/u.test(segment)) return [{ source: `${source}[${segment}]`, value: value[Number(segment)] }];
    return value.flatMap((item, i) => step(item, segment, `${source}[${i}]`));
  }
  if (!isObject(value)) return [];
  const wanted = foldKey(segment);
  return Object.keys(value)
    .filter((key) => key === segment || foldKey(key) === wanted)
    .map((key) => ({ source: join(key), value: value[key] }));
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;
const isScalar = (value: unknown): value is string | number | boolean | bigint =>
  typeof value === "string" || typeof value === "number" || typeof value === "boolean" || typeof value === "bigint";
