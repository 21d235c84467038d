// Money under the other words payment and shop APIs use for it: `price`, `fee`, `cost`, `total`, `subtotal`, `amt`,
// `charge` (and their plurals, their compounds such as `unit_price`, `shipping_fee`, `grandTotal`, `price_usd`,
// `totalInCents`); and money objects under `money` and `payment(s)` (holdsMoneyObjects).
// Unread, `{item: "x", price: 5000}` passed a 100 USD threshold, and the hourly money budget never counted it.
//
// Each word is read as a word of its own, on the key as written (`coffee` is no fee, `cost_center` no cost), and only
// when it is the key's last word or followed by a currency code, a minor unit or `decimal`: `price_id`, `total_count`
// and `fee_type` hold no money. Such a key counts when it holds what could be money: a number, a string with a digit
// that is not an identifier (Stripe's `price: "price_1Mo…"` names a Price object, whose amount the policy cannot
// see), or a `{value}` object (PayPal's and Google's money; `value` in any width and case), or a `{cents}` /
// `{fractional}` one (money-rails, RubyMoney), which the policy does not convert and so refuses as unverifiable. An object with only an
// `amount` member is left to the walk, which reads that member by the amount rule (counted once, not twice); one
// with both must have them agree (./amounts.ts), and is then judged at twice, never less. Any other object or list
// is walked as well.

import { foldKey } from "./fold-key";

/** What follows `amount` or a money word when the amount is in its currency's minor unit (5000 of them is 50.00). */
export const MINOR_FORMS = new Set(["cents", "incents", "minor", "minorunits", "inminorunits"]);

export type MoneyKind = "one" | "minor" | "list" | "minorlist";

const MONEY_HINT = /price|fee|cost|total|amt|charge/u;
const MONEY_WORDS = new Map<string, "one" | "list">([
  ["price", "one"],
  ["prices", "list"],
  ["fee", "one"],
  ["fees", "list"],
  ["cost", "one"],
  ["costs", "list"],
  ["total", "one"],
  ["totals", "list"],
  ["subtotal", "one"],
  ["subtotals", "list"],
  // The abbreviation (`amt`, `txn_amt`) and a charge's sum (`charge: 5000`; `charge: "ch_1…"` names one).
  ["amt", "one"],
  ["amts", "list"],
  ["charge", "one"],
  ["charges", "list"],
]);
const ASCII = /^[\x20-\x7e]*$/u;

/** How a key holds money by one of the money words, or undefined when it does not (most keys: one regex test). */
export function moneyKeyKind(key: string, folded: string): MoneyKind | undefined {
  if (!MONEY_HINT.test(folded)) return undefined;
  const words = wordsOf(key);
  let at = words.length - 1;
  while (at >= 0 && moneyWordKind(words[at]!) === undefined) at--;
  if (at < 0) return undefined;
  const kind = moneyWordKind(words[at]!)!;
  const rest = words.slice(at + 1);
  // `price_usd_cents`: a currency code before the minor unit names the currency the cents are of.
  if (rest.length > 1 && isCurrencySuffix(rest[0]!)) rest.shift();
  const tail = rest.join("");
  // `price_per_unit`, `costPerItem`: the money word's amount for each of something, money all the same.
  if (tail === "" || tail === "decimal" || rest[0] === "per" || isCurrencySuffix(tail)) return kind;
  if (MINOR_FORMS.has(tail)) return kind === "one" ? "minor" : "minorlist";
  return undefined;
}

/**
 * A money word, or one that ends in `price`, `total` or `cost` (`unitprice`, `grandtotal`, `shippingcost`: keys
 * written without a separator). Not `fee`, `amt` or `charge` inside a word: `coffee`, `discharge` hold no money.
 */
function moneyWordKind(word: string): "one" | "list" | undefined {
  const exact = MONEY_WORDS.get(word);
  if (exact) return exact;
  const ending = SUFFIX_WORD.exec(word)?.[0];
  return ending === undefined ? undefined : MONEY_WORDS.get(ending);
}
const SUFFIX_WORD = /(?:price|total|cost)s?$/u;

/**
 * Whether a key names money by `sum`, `principal` or `payout` (a loan's principal, Robokassa's `OutSum`, a payout's
 * sum), its last word: read beside a currency only, a number or a string with a digit (../extract.ts collectNumericMoney). Not
 * `checksum` (one word) nor `sum_type`, `principal_id`, `payout_status` (another word after it).
 */
export function isNumericMoneyKey(key: string, folded: string): boolean {
  if (!NUMERIC_MONEY_HINT.test(folded)) return false;
  const last = wordsOf(key).at(-1);
  return last !== undefined && NUMERIC_MONEY_WORDS.has(last);
}
const NUMERIC_MONEY_HINT = /(?:sum|principal|payout)$/u;
const NUMERIC_MONEY_WORDS = new Set(["sum", "principal", "payout"]);

/** Whether a value under a money key could be money the connector receives (see the header). */
export function mayBeMoney(value: unknown): boolean {
  if (typeof value === "number" || typeof value === "bigint") return true;
  if (typeof value === "string") return DIGIT.test(value) && !IDENTIFIER.test(value);
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  // Folded as ./amounts.ts reads the members (`ＶＡＬＵＥ`, `Value`): a member it reads is one this counts; Google's
  // Money counts by its `units`.
  // A money object in minor-unit members counts too: ./amounts.ts refuses it (AMOUNT_UNVERIFIABLE), where walked it
  // would pass unread.
  return Object.keys(value).some((key) => isMoneyMember(foldKey(key), value as Record<string, unknown>));
}

/**
 * A member a money object is read by: `value`, a minor-unit one, and `units` in Google's Money only: beside no
 * `currency_code` nor `nanos`, `units` is how many (`price: {value: 10, units: 3}`, `{units: 500}`), no money.
 */
const isMoneyMember = (folded: string, object: Record<string, unknown>) =>
  folded === "value" || MINOR_MEMBERS.has(folded) || (folded === "units" && isGoogleMoney(object));

/** Whether an object has the shape of Google's Money: a `currency_code` (`currencyCode`) or `nanos` member. */
export function isGoogleMoney(value: Record<string, unknown>): boolean {
  for (const key of Object.keys(value)) {
    const folded = foldKey(key);
    if (folded === "currencycode" || folded === "nanos") return true;
  }
  return false;
}
const DIGIT = /\p{Nd}/u;
/**
 * Members holding a money object's amount in minor units: money-rails' `{cents, currency_iso}`, RubyMoney's
 * `fractional` (not a bare `minor`, a word too common to mean cents on its own).
 */
export const MINOR_MEMBERS = new Set(["cents", "incents", "minorunits", "inminorunits", "fractional", "subunits"]);

/**
 * Whether an object under a `payment` or `money` key (holdsMoneyObjects) is a money object: a member it is read by
 * (`value`, `units`, a minor-unit one: ./amounts.ts) holds what may be an amount, a number or a string with a digit.
 * Forms and selects sit under these words too, `payment: {label: "Credit card", value: "card"}`, `payments: [{value:
 * "paid"}]`: read as money they were refused as unverifiable (outside review R23d). A string with a digit stays
 * money, judged and refused when a strict parse cannot read it (`repayment: {value: "12 months"}` is denied under an
 * amount rule): a lenient upstream (parseFloat, PHP's float cast) reads 5000 from `"5000 euros"`, and an amount the
 * policy skipped would move unjudged.
 */
export function isMoneyObject(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return Object.entries(value).some(([key, member]) => {
    if (!isMoneyMember(foldKey(key), value as Record<string, unknown>)) return false;
    if (typeof member === "number" || typeof member === "bigint") return true;
    return typeof member === "string" && mayBeMoney(member);
  });
}

/**
 * Whether a key ending in `money`, `payment` or `payments` holds money objects (`payment: {value: "5000"}`, `money:
 * {cents: 500000}`) to read. Only objects: under these words a string or a number is as often a date, an id or a
 * count (`next_payment: "2024-02-01"`, `payment: "PAY-1AB2…"`, `payment: 42` a foreign key) as an amount.
 */
export function holdsMoneyObjects(folded: string): boolean {
  return MONEY_OBJECT_KEY.test(folded);
}
const MONEY_OBJECT_KEY = /(?:money|payments?)$/u;
// `price_1MoBy5LkdIwHu7ix`, `fee_1Abc`: a letters-only prefix, an underscore, then letters and digits.
const IDENTIFIER = /^[A-Za-z]+_[A-Za-z0-9]+$/u;

/**
 * The words of a key, case folded as ./fold-key.ts folds (`PRİCE`, `prıce` → price): split at separators and at
 * camel-case humps (`unitPriceUSD` → unit price usd).
 */
function wordsOf(key: string): string[] {
  const humped = key.replace(/(\p{Ll}|\p{N})(\p{Lu})/gu, "$1 $2").replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, "$1 $2");
  const text = ASCII.test(key) ? humped.toLowerCase() : humped.normalize("NFKC").toUpperCase().toLowerCase();
  return text
    .replace(/\p{M}/gu, "")
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** `usd`, `in_eur`, `InUSD`: the money word's amount in that (ISO 4217) currency. */
function isCurrencySuffix(rest: string): boolean {
  const code = rest.startsWith("in") && rest.length === 5 ? rest.slice(2) : rest;
  if (code.length !== 3) return false;
  knownCurrencies ??= new Set(Intl.supportedValuesOf("currency").map((c) => c.toLowerCase()));
  return knownCurrencies.has(code);
}
let knownCurrencies: Set<string> | undefined;

// A currency under another word than `currency` (outside review R-a #1): a crypto exchange's withdrawal names it
// `coin` (Binance, `{coin: "BTC", amount: 50, address}`), `asset` (Kraken, `{asset: "XBT", amount: 50}`; Binance's
// `baseAsset` / `quoteAsset`, Stellar's `asset_code`), and other APIs `curr`, `denomination` or `unit`. Unread, 50
// BTC passed a 100 EUR threshold as 50 EUR. Judged by the value, as the word alone is ambiguous:
//   - `coin`, `curr`, `denomination` (and `coin_code`, `coinSymbol`, `coin_ticker`): any text with a letter is the
//     currency (`coin: "bitcoin"` too: a currency the policy cannot compare fails closed, AMOUNT_UNVERIFIABLE);
//   - `asset` and its compounds (`asset_code`, `quoteAsset`, `assetId`, `coin_type`…): a code written in upper case,
//     ISO 4217 or ticker-shaped (`XBT`, `USDC_ETH`), or a coin's denomination (`ether`, `sats`); an asset id
//     (`a-123`, AWS's `my-logo.png`) is none;
//   - `unit`: an ISO 4217 code or a known ticker written in upper case, or a coin's denomination (`{value: 1, unit:
//     "ether"}`); a unit of measure (`kg`, `EA`, `cup`) is none.
// A number under them (`coin_type: 0`, BIP 44's index; `denomination: 20`, a note's face value) names no currency.

/** How a key may hold a currency by one of these words: `any` text, a `code` only, or an ISO / known `ticker` only. */
export function coinKeyKind(key: string, folded: string): "any" | "code" | "ticker" | undefined {
  // Most keys hold none of these words: they skip the pattern (this runs for every key of every action).
  if (!mayNameCoin(folded) || !COIN_HINT.test(folded)) return undefined;
  const words = wordsOf(key);
  let base = words.at(-1)!;
  let form = "";
  if (words.length > 1 && COIN_FORMS.has(base)) {
    form = base;
    base = words.at(-2)!;
  }
  if (base === "unit") return form === "" ? "ticker" : undefined;
  if (base === "asset") return "code";
  if (base === "coin" || base === "curr" || base === "denomination") return STRONG_FORMS.has(form) ? "any" : "code";
  return undefined;
}
const mayNameCoin = (folded: string) =>
  folded.includes("unit") ||
  folded.includes("coin") ||
  folded.includes("asset") ||
  folded.includes("curr") ||
  folded.includes("denomination");
const COIN_HINT = /(?:coin|asset|curr|denomination|unit)(?:code|symbol|ticker|type|id|name)?$/u;
const COIN_FORMS = new Set(["code", "symbol", "ticker", "type", "id", "name"]);
const STRONG_FORMS = new Set(["", "code", "symbol", "ticker"]);

/** The currency a string under such a key names (coinKeyKind), or undefined when it names none. */
export function coinCurrency(kind: "any" | "code" | "ticker", value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (kind === "any") return /\p{L}/u.test(text) ? text : undefined;
  if (DENOMINATIONS.has(text.toLowerCase())) return text;
  if (kind === "code") return TICKER_SHAPE.test(text) ? text : undefined;
  return TICKERS.has(text) || (/^[A-Z]{3}$/u.test(text) && isCurrencySuffix(text.toLowerCase())) ? text : undefined;
}
const TICKER_SHAPE = /^[A-Z][A-Z0-9]{1,9}(?:[_.-][A-Z0-9]{1,10})?$/u;
const TICKERS = new Set(
  `BTC XBT XXBT ETH XETH USDT USDC BNB XRP SOL ADA DOGE XDG TRX DOT MATIC POL LTC BCH XMR XLM LINK AVAX SHIB TON DAI
  BUSD ETC XTZ ATOM UNI ALGO FIL NEAR APT ARB SUI PEPE WBTC WETH TUSD USDP PYUSD FDUSD EURC EUROC ZEC DASH`.split(
    /\s+/u,
  ),
);
const DENOMINATIONS = new Set(
  "bitcoin bitcoins ether ethereum wei gwei finney szabo sat sats satoshi satoshis msat lamport lamports tether".split(
    " ",
  ),
);
