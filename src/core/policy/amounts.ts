// Amounts as the connector receives them, read as the decimals they are. A JSON number reaches the connector as
// JSON.stringify writes it (its shortest round-trip form), a string as written: an upstream may parse
// "100.000000000000001" exactly (a decimal type), so the policy must not judge it as the double 100. Every amount
// also gets its exact decimal text (`decimal`: plain digits, no exponent, no leading or trailing zeros) beside
// the double (`value`, for display).
import { type Found, foldKey } from "./extract";

export type ParsedAmount = { source: string; ok: true; value: number; decimal: string } | { source: string; ok: false };

/** The member names of an amount object that hold its number, in folded form (`Value`, `ＶＡＬＵＥ` → `value`). */
const AMOUNT_MEMBERS = new Set(["value", "amount"]);

/**
 * A number, a plain decimal string (any digit width), or an object whose `value` / `amount` holds one. Every member
 * whose key folds to one of those counts, and they must agree: an upstream that reads keys case-insensitively (Go's
 * encoding/json, ASP.NET) takes the last of `{"value": 50, "VALUE": 5000}`, so judging the first would pass 5000.
 */
export function parseAmount(found: Found<unknown>): ParsedAmount {
  const value = found.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return parseNumber(found.source, value);
  const members = Object.keys(value).filter((key) => AMOUNT_MEMBERS.has(foldKey(key)));
  const parsed = members.map((key) => parseNumber(found.source, (value as Record<string, unknown>)[key]));
  const first = parsed[0];
  if (!first?.ok || parsed.some((p) => !p.ok || p.decimal !== first.decimal))
    return { source: found.source, ok: false };
  return first;
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
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return fail;
  return { source, ok: true, value, decimal: decimalOf(value) };
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
