// The one folding of a param name, shared by the extraction (./extract.ts), the money words (./money-keys.ts), the
// amount members (./amounts.ts) and the audit's redaction: a key matches a well-known name in any width and case.

/**
 * A param name as the well-known lists spell it: NFKC, case folded, letters and digits only. Upper case first, then
 * lower: upstreams that compare names case-insensitively upper-case them (Java's equalsIgnoreCase, .NET's
 * OrdinalIgnoreCase, JS toUpperCase), which reads `prıce` (dotless ı), `PRİCE` (dotted İ, whose lower case carries a
 * combining dot, dropped below) and `ſ` (long s) as `price` and `s`: so must the policy.
 */
export function foldKey(key: string): string {
  // Most keys (`to`, `subject`, `amount`) are that form already, which the three steps below leave unchanged
  // (./ascii-fast-paths.test.ts).
  if (FOLDED_KEY.test(key)) return key;
  return key
    .normalize("NFKC")
    .toUpperCase()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, "");
}

const FOLDED_KEY = /^[a-z0-9]*$/u;
