// Amounts as the connector receives them, read as the decimals they are. A JSON number reaches the connector as
// JSON.stringify writes it (its shortest round-trip form), a string as written: an upstream may parse
// "100.000000000000001" exactly (a decimal type), so the policy must not judge it as the double 100. Every amount
// also gets its exact decimal text (`decimal`: plain digits, no exponent, no leading or trailing zeros) beside
// the double (`value`, for display).
import { clipped } from "./clip";
import { type ActionFacts, type Found, foldKey } from "./extract";
import { isGoogleMoney, MINOR_MEMBERS } from "./money-keys";
import { foldText } from "./normalize";

/** An amount read, in major units of its currency; or why it cannot be (`why` completes "Amount at <source> …"). */
export type ParsedAmount =
  | { source: string; ok: true; value: number; decimal: string }
  | { source: string; ok: false; why?: string };
type ReadAmount = Extract<ParsedAmount, { ok: true }>;

/** The member names of an amount object that hold its number, in folded form (`Value`, `ＶＡＬＵＥ` → `value`). */
const AMOUNT_MEMBERS = new Set(["value", "amount"]);
/** The members of Google's Money (`{units, nanos}`), in folded form. */
const UNITS_MEMBERS = new Set(["units", "nanos"]);

/**
 * A number, a plain decimal string (any digit width), or an object whose `value` / `amount` holds one. Every member
 * whose key folds to one of those counts, and they must agree: an upstream that reads keys case-insensitively (Go's
 * encoding/json, ASP.NET) takes the last of `{"value": 50, "VALUE": 5000}`, so judging the first would pass 5000.
 * So must the object's other representations of its amount beside them (outside review R23a): Google's Money (an
 * object with a `currency_code` or `nanos`) reads `{value: 50, units: "5000", currency_code}` as 5,000, money-rails
 * `{value: 50, cents: 500000}` and RubyMoney `{amount: 50, fractional: 500000}` as 5,000.00. Their `units` /
 * `nanos` (read exactly) and their minor-unit members (converted with `minorDigits`, the digits of the action's one
 * currency) must be the same amount, or the amount is none the policy can read (the checks fail closed, naming the
 * disagreement). Without a `value` / `amount`, an object is read by its units and nanos; one in minor-unit members
 * alone is refused, as before (MINOR_MEMBERS_UNREAD). `minorDigits` undefined: minor-unit members beside a value
 * cannot be compared, and fail closed too. For an amount found in minor units (`found.minor`: `price_cents:
 * {value}`), its members are all in minor units already. Outside Google's Money, `units` beside a value is how many,
 * a quantity it is multiplied by: `price: {value: 10, units: 3}` is 30.
 */
export function parseAmount(found: Found<unknown>, minorDigits?: () => number | string): ParsedAmount {
  const value = found.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return parseNumber(found.source, value);
  const money = value as Record<string, unknown>;
  const keys = Object.keys(money);
  const members = keys.filter((key) => AMOUNT_MEMBERS.has(foldKey(key)));
  const minorKeys = keys.filter((key) => MINOR_MEMBERS.has(foldKey(key)));
  if (members.length === 0 && minorKeys.length > 0)
    return { source: found.source, ok: false, why: MINOR_MEMBERS_UNREAD };
  if (members.length === 0) return parseUnitsAndNanos(found.source, money);
  const parsed = members.map((key) => parseNumber(found.source, money[key]));
  const first = parsed[0];
  if (!first?.ok || parsed.some((p) => !p.ok || p.decimal !== first.decimal))
    return { source: found.source, ok: false };
  const named = `${clipped(members[0]!)} ${first.decimal}`;
  const others: { what: string; decimal: string }[] = [];
  const unitsKeys = keys.filter((key) => UNITS_MEMBERS.has(foldKey(key)));
  // Units beside a value outside Google's Money (`price: {value: 10, units: 3}`) are how many: a quantity.
  const quantities = isGoogleMoney(money)
    ? []
    : unitsKeys.map((key) => ({ source: `${found.source}.${clipped(key)}`, value: money[key] }));
  if (quantities.length === 0 && unitsKeys.length > 0) {
    const units = parseUnitsAndNanos(found.source, money);
    const what = unitsKeys.map((key) => clipped(key)).join(" and ");
    if (!units.ok) return { source: found.source, ok: false, why: `holds ${named} beside ${what} that do not read` };
    others.push({ what: `${what} ${units.decimal}`, decimal: units.decimal });
  }
  if (minorKeys.length > 0) {
    const what = minorKeys.map((key) => clipped(key)).join(" and ");
    const minor = readAgreeing(found.source, money, minorKeys);
    if (!minor || minor.decimal.includes("."))
      return { source: found.source, ok: false, why: `holds ${named} beside ${what} that are no whole number` };
    const digits = found.minor ? 0 : (minorDigits?.() ?? MINOR_BESIDE_VALUE);
    if (typeof digits === "string")
      return {
        source: found.source,
        ok: false,
        why: `holds ${named} and ${what} ${minor.decimal}, which cannot be compared: minor units (cents) ${digits}`,
      };
    const decimal = shiftLeft(minor.decimal, digits);
    others.push({ what: `${what} ${minor.decimal} (${decimal})`, decimal });
  }
  const differing = others.find((other) => compareDecimals(other.decimal, first.decimal) !== 0);
  if (differing)
    return {
      source: found.source,
      ok: false,
      why: `holds its amount as ${named} and as ${differing.what}, which disagree: an upstream may read either`,
    };
  return quantities.length > 0 ? timesQuantities(first, quantities) : first;
}

const MINOR_MEMBERS_UNREAD =
  "holds money in minor-unit members (cents, fractional) the policy does not convert: send it as a number or {value}";
const MINOR_BESIDE_VALUE = "of a currency not known here";

/** The members `keys` of a money object read as one number: every one a plain decimal, all the same; else null. */
function readAgreeing(source: string, money: Record<string, unknown>, keys: string[]): ReadAmount | null {
  const texts = keys.map((key) => parseNumber(source, money[key]));
  const first = texts[0];
  return first?.ok && texts.every((t) => t.ok && t.decimal === first.decimal) ? first : null;
}

/**
 * Google's Money, `{currency_code, units: "5000", nanos: 500000000}`: the whole units plus billionths, exactly
 * (5000.5). Every member folding to `units` or `nanos` must agree (as for `value`), each a plain whole number.
 */
function parseUnitsAndNanos(source: string, money: Record<string, unknown>): ParsedAmount {
  const fail: ParsedAmount = { source, ok: false };
  const read = (name: string) => {
    const keys = Object.keys(money).filter((key) => foldKey(key) === name);
    if (keys.length === 0) return undefined;
    const read = readAgreeing(source, money, keys);
    return read && !read.decimal.includes(".") ? read : null;
  };
  const units = read("units");
  const nanos = read("nanos");
  if (!units?.ok || nanos === null || (nanos?.ok && nanos.decimal.length > 9)) return fail;
  const decimal = nanos?.ok ? sumDecimals([units.decimal, `0.${nanos.decimal.padStart(9, "0")}`]) : units.decimal;
  return { source, ok: true, value: Number(decimal), decimal };
}

/** Why an amount cannot be read, as the end of "Amount at <source> …". */
export const whyNot = (bad: ParsedAmount) => (!bad.ok && bad.why) || "is not a non-negative number";

/**
 * Every amount of the facts, read (parseAmount) and, for one in minor units (`amount_cents`…), converted to major
 * units of the action's currency: 5000 cents of USD → 50, 5000 of JPY → 5000, 5000 of BHD → 5. That currency is the
 * one every currency the action carries agrees on; with none, with several, or with one the runtime's ICU does not
 * know as ISO 4217, the amount cannot be read (the checks then fail closed). So can a fraction of a minor unit (12.5
 * cents): the upstream would round it some way the policy cannot know.
 */
export function parseFactAmounts(facts: Pick<ActionFacts, "amounts" | "currencies">): ParsedAmount[] {
  let digits: number | string | undefined;
  const minorDigits = () => (digits ??= minorDigitsOf(facts.currencies));
  const parsed = facts.amounts.map((found): ParsedAmount => {
    const parsed = agreeing(parseAmount(found, minorDigits), found.representations, minorDigits);
    // A line item's quantity is a whole number (PayPal refuses any other): one an upstream might round up is unread.
    const whole = found.partGroup === "items";
    if (!found.minor || !parsed.ok) return timesQuantities(parsed, found.quantities, whole);
    const shift = minorDigits();
    if (typeof shift === "string")
      return { source: found.source, ok: false, why: `is in minor units (cents) ${shift}` };
    if (parsed.decimal.includes("."))
      return { source: found.source, ok: false, why: "is not a whole number of minor units (cents)" };
    const decimal = shiftLeft(parsed.decimal, shift);
    return timesQuantities(
      { source: found.source, ok: true, value: Number(decimal), decimal },
      found.quantities,
      whole,
    );
  });
  return withBreakdowns(facts.amounts, parsed);
}

/**
 * An amount read, if every other representation of it beside it (`cents`, `amount_cents` beside `amount`:
 * ../extract.ts `representations`) is the same amount in minor units of the action's one currency; else why not.
 */
function agreeing(
  amount: ParsedAmount,
  representations: Found<unknown>[] | undefined,
  minorDigits: () => number | string,
): ParsedAmount {
  if (!amount.ok || !representations) return amount;
  for (const other of representations) {
    const read = parseNumber(other.source, other.value);
    const written = read.ok ? read.decimal : clipped(String(other.value));
    const beside = `is ${amount.decimal} but ${other.source} beside it is ${written}`;
    if (!read.ok || read.decimal.includes("."))
      return { source: amount.source, ok: false, why: `${beside}, no whole number of minor units (cents)` };
    const digits = minorDigits();
    if (typeof digits === "string")
      return { source: amount.source, ok: false, why: `${beside}, which cannot be compared: minor units ${digits}` };
    const decimal = shiftLeft(read.decimal, digits);
    if (compareDecimals(decimal, amount.decimal) !== 0)
      return {
        source: amount.source,
        ok: false,
        why: `${beside} (${decimal}) in minor units, which disagree: an upstream may read either`,
      };
  }
  return amount;
}

/**
 * The amounts with each breakdown folded into the amount it details (`partOf`, ./extract.ts): PayPal v2's
 * `amount: {value: 100, breakdown: {item_total: 90, shipping: 10}}` moves 100, not 200. The amount counts as the
 * larger of itself and its parts' sum (a discount among them counted as if added): an upstream that charged the
 * breakdown rather than the amount would move no more. Parts of different groups (the breakdown; a purchase unit's
 * `items`, `partGroup`) each detail the same amount: each group is summed on its own and the amount counts as the
 * largest, `{amount: 100, breakdown: {item_total: 100}, items: [2 × 50]}` as 100, not 200 or 300. Separate amounts
 * (purchase units, transfers) still add up. A group is folded only when the amount and every part of it read and
 * the amount's source is found once; else its parts are left as they are (summed, or failing closed on the one
 * that does not read).
 */
function withBreakdowns(found: Found<unknown>[], parsed: ParsedAmount[]): ParsedAmount[] {
  if (!found.some((f) => f.partOf !== undefined)) return parsed;
  const parts = partsByAmount(found);
  const folded = new Set<number>();
  const memo = new Map<number, ParsedAmount>();
  // Parts are inside their amount (a longer source), so the recursion ends; the depth bound is a guard all the same.
  const effective = (i: number, depth: number): ParsedAmount => {
    const own = parsed[i]!;
    const groups = parts.get(i);
    if (!groups || !own.ok || depth > 64) return own;
    const cached = memo.get(i);
    if (cached) return cached;
    let result: ParsedAmount = own;
    for (const mine of groups.values()) {
      const values = mine.map((p) => effective(p, depth + 1));
      if (!values.every((v) => v.ok)) continue;
      for (const p of mine) folded.add(p);
      const sum = sumDecimals(values.map((v) => (v.ok ? v.decimal : "0")));
      if (result.ok && compareDecimals(sum, result.decimal) > 0) result = { ...own, value: Number(sum), decimal: sum };
    }
    memo.set(i, result);
    return result;
  };
  const totals = parsed.map((_, i) => effective(i, 0));
  return totals.filter((_, i) => !folded.has(i));
}

/**
 * The parts of each amount (by index), by group: an amount whose source is found twice (`amount` beside `AMOUNT`)
 * has none, for the policy cannot tell which of the two they detail.
 */
function partsByAmount(found: Found<unknown>[]): Map<number, Map<string, number[]>> {
  const at = new Map<string, number>();
  const twice = new Set<string>();
  for (let i = 0; i < found.length; i++) {
    const source = found[i]!.source;
    if (at.has(source)) twice.add(source);
    else at.set(source, i);
  }
  const parts = new Map<number, Map<string, number[]>>();
  for (let i = 0; i < found.length; i++) {
    const { partOf, partGroup = "breakdown" } = found[i]!;
    const whole = partOf === undefined || twice.has(partOf) ? undefined : at.get(partOf);
    if (whole === undefined || whole === i) continue;
    const groups = parts.get(whole) ?? new Map<string, number[]>();
    parts.set(whole, groups);
    const mine = groups.get(partGroup);
    if (mine) mine.push(i);
    else groups.set(partGroup, [i]);
  }
  return parts;
}

/**
 * An amount times the quantities around it (a line item's `quantity`: `{unit_price: 10, quantity: 50}` moves 500),
 * exactly; a quantity that is not a plain non-negative decimal (`whole`: a whole number) makes the amount
 * unreadable. A quantity below 1 never lowers it: the policy cannot tell a unit price from a total written beside a
 * quantity, and `{amount: 5000, quantity: 0}` still moves 5,000 to an upstream that ignores the quantity.
 */
function timesQuantities(amount: ParsedAmount, quantities: Found<unknown>[] | undefined, whole = false): ParsedAmount {
  if (!amount.ok || !quantities) return amount;
  let decimal = amount.decimal;
  for (const quantity of quantities) {
    const parsed = parseNumber(quantity.source, quantity.value);
    if (!parsed.ok || (whole && parsed.decimal.includes(".")))
      return {
        source: amount.source,
        ok: false,
        why: `is multiplied by a quantity at ${quantity.source} that is not a non-negative ${whole ? "whole " : ""}number`,
      };
    if (compareDecimals(parsed.decimal, "1") > 0) decimal = multiplyDecimals(decimal, parsed.decimal);
  }
  return { source: amount.source, ok: true, value: Number(decimal), decimal };
}

/** The exact product of two decimals as canonical text (`"12.5"` × `"4"` → `50`). */
export function multiplyDecimals(a: string, b: string): string {
  const [aInt = "0", aFraction = ""] = a.split(".");
  const [bInt = "0", bFraction = ""] = b.split(".");
  const scale = aFraction.length + bFraction.length;
  const digits = (BigInt(aInt + aFraction) * BigInt(bInt + bFraction)).toString().padStart(scale + 1, "0");
  return canonicalDecimal(scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits);
}

/**
 * The minor-unit digits of the action's one currency, or why there is none to convert minor units with (the end of
 * "… in minor units (cents) <why>").
 */
function minorDigitsOf(currencies: Found<string>[]): number | string {
  const codes = [...new Set(currencies.map((c) => foldText(c.value).toUpperCase()))];
  const [code] = codes;
  if (code === undefined) return "of no currency: the action names none";
  const quoted = codes.map((c) => `'${c.length > 16 ? `${c.slice(0, 16)}…` : c}'`);
  if (codes.length > 1) return `of no single currency: the action names ${quoted.slice(0, 3).join(", ")}`;
  const digits = minorUnitDigits(code);
  return digits ?? `of ${quoted[0]}, which is no ISO 4217 currency`;
}

/** The ISO 4217 codes the runtime's ICU knows (`Intl.supportedValuesOf`): a well-formed unknown code is not one. */
let knownCurrencies: Set<string> | undefined;
const digitsByCurrency = new Map<string, number>();

/**
 * How many decimal places a currency's minor unit is (USD 2, JPY 0, BHD 3), as the runtime's ICU (CLDR) gives them;
 * undefined for a code it does not know. CLDR gives a few currencies fewer digits than ISO 4217 does (IQD 0 for 3,
 * HUF and IDR 0 for 2…): their minor-unit amounts are then judged larger than the upstream means, never smaller.
 */
export function minorUnitDigits(code: string): number | undefined {
  knownCurrencies ??= new Set(Intl.supportedValuesOf("currency"));
  if (!knownCurrencies.has(code)) return undefined;
  let digits = digitsByCurrency.get(code);
  if (digits === undefined) {
    const format = new Intl.NumberFormat("en", { style: "currency", currency: code });
    digits = format.resolvedOptions().maximumFractionDigits ?? 0; // none: judged largest
    digitsByCurrency.set(code, digits);
  }
  return digits;
}

/** A whole decimal divided by 10^digits, exactly: (`5000`, 2) → `50`, (`5`, 3) → `0.005`. */
function shiftLeft(whole: string, digits: number): string {
  if (digits === 0) return whole;
  const padded = whole.padStart(digits + 1, "0");
  return canonicalDecimal(`${padded.slice(0, -digits)}.${padded.slice(-digits)}`);
}

// Plain digits with an optional fraction: no sign ("-0" included), exponent, separator, NaN or Infinity.
const PLAIN_DECIMAL = /^\d{1,30}(\.\d{1,30})?$/u;

function parseNumber(source: string, value: unknown): ParsedAmount {
  const fail: ParsedAmount = { source, ok: false };
  if (typeof value === "string") {
    const text = value.normalize("NFKC").trim();
    if (!PLAIN_DECIMAL.test(text)) return fail;
    return { source, ok: true, value: Number(text), decimal: canonicalDecimal(text) };
  }
  // A JSON -0 is 0: JSON.stringify sends the upstream 0 (the written "-0" above is what a plain decimal may not be).
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return fail;
  return { source, ok: true, value, decimal: decimalOf(value) };
}

/** The exact sum of decimals as canonical text (`["0.1", "0.2"]` → `0.3`; no double rounding on the way). */
export function sumDecimals(decimals: string[]): string {
  const scale = Math.max(0, ...decimals.map((d) => (d.split(".")[1] ?? "").length));
  const total = decimals.reduce((sum, d) => {
    const [int = "0", fraction = ""] = d.split(".");
    return sum + BigInt(int + fraction.padEnd(scale, "0"));
  }, 0n);
  const digits = total.toString().padStart(scale + 1, "0");
  return canonicalDecimal(scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits);
}

/** `007.500` → `7.5`, `0.0` → `0`: one text per value, so equal values have equal texts. */
function canonicalDecimal(text: string): string {
  const [whole = "", fraction = ""] = text.split(".");
  const int = whole.replace(/^0+/u, "") || "0";
  const frac = fraction.replace(/0+$/u, "");
  return frac ? `${int}.${frac}` : int;
}

/**
 * The exact decimal of a finite non-negative number as JavaScript (and JSON.stringify) writes it, without an
 * exponent: 1e21 → `1000000000000000000000`, 1.5e-7 → `0.00000015`.
 */
export function decimalOf(n: number): string {
  const text = String(n);
  const match = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/u.exec(text);
  if (!match) return canonicalDecimal(text);
  const [, int = "", frac = "", exponent = "0"] = match;
  const digits = int + frac;
  const point = int.length + Number(exponent);
  if (point <= 0) return canonicalDecimal(`0.${"0".repeat(-point)}${digits}`);
  if (point >= digits.length) return canonicalDecimal(digits + "0".repeat(point - digits.length));
  return canonicalDecimal(`${digits.slice(0, point)}.${digits.slice(point)}`);
}

/**
 * Compares two decimals exactly (-1, 0, 1); both in the form `decimal` holds (no leading zeros in the integer
 * part, none trailing in the fraction), where a longer integer part is the larger number and, for the same
 * integer part, the fractions compare as text: `0.5` > `0.45`, `100.000000000000001` > `100`.
 */
export function compareDecimals(a: string, b: string): number {
  const [aInt = "", aFraction = ""] = a.split(".");
  const [bInt = "", bFraction = ""] = b.split(".");
  if (aInt.length !== bInt.length) return aInt.length > bInt.length ? 1 : -1;
  if (aInt !== bInt) return aInt > bInt ? 1 : -1;
  if (aFraction === bFraction) return 0;
  return aFraction > bFraction ? 1 : -1;
}

/** Decimal places the money budgets count in: a budget counter holds millionths of its currency. */
export const MICRO_DIGITS = 6;

/**
 * A decimal in millionths, rounded UP: a budget counts at least what moves (an amount finer than a millionth
 * costs a whole one). Exact integer arithmetic (BigInt), so a huge amount is compared as it is, never as Infinity.
 */
export function microsOf(decimal: string): bigint {
  const [int = "0", fraction = ""] = decimal.split(".");
  const kept = fraction.slice(0, MICRO_DIGITS).padEnd(MICRO_DIGITS, "0");
  const dropped = /[1-9]/u.test(fraction.slice(MICRO_DIGITS));
  return BigInt(int + kept) + (dropped ? 1n : 0n);
}

/** Millionths as the currency's decimal number, for messages and details. */
export const fromMicros = (micros: number): number => micros / 10 ** MICRO_DIGITS;
