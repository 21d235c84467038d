// RFC 8785 (JSON Canonicalization Scheme) for the JSON values Gatehouse stores: object keys sorted by UTF-16
// code units, no insignificant whitespace, strings and numbers serialised exactly as ECMAScript's
// JSON.stringify does (which is what RFC 8785 specifies for them). Used for every hash that must be
// reproducible elsewhere: audit records, approval bindings, idempotency request hashes.
import { hash } from "node:crypto";

export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return quoted(value);
    case "number":
      // NaN/Infinity have no JSON form; silently writing `null` would hash a different value than stored.
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      // JSON.stringify writes a finite number as ToString does (-0 included: "0"), without its call overhead.
      return `${value}`;
    case "object": {
      // String building rather than map/filter/join: this runs for every audit record, approval binding and
      // idempotency hash on the hot path, and the intermediate arrays were most of its cost.
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          out += canonicalJson(value[i] ?? null);
        }
        return out + "]";
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
        return canonicalJson((value as { toJSON: () => unknown }).toJSON());
      }
      const keys = sortedKeys(value);
      let out = "{";
      for (const key of keys) {
        const member = (value as Record<string, unknown>)[key];
        if (member === undefined || typeof member === "function") continue;
        if (out.length > 1) out += ",";
        out += quoted(key) + ":" + canonicalJson(member);
      }
      return out + "}";
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
  }
}

// A string JSON.stringify leaves as it is between quotes has no quote, backslash, control character or surrogate
// (a lone surrogate is escaped, a pair is not; either way JSON.stringify decides). Most keys and values are such.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function quoted(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * The keys in RFC 8785 order: by UTF-16 code units, which is what both `<` on strings and the default sort compare.
 * Small key sets (almost all) are insertion-sorted, which costs next to nothing when they are already in order
 * (records are built so); the default sort's string comparisons were a large share of canonicalJson's time.
 */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}

/** Lower-case hex SHA-256 of the canonical JSON of `value`. */
export function sha256Canonical(value: unknown): string {
  return hash("sha256", canonicalJson(value), "hex");
}
