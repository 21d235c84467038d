// RFC 8785 (JSON Canonicalization Scheme) for the JSON values Gatehouse stores: object keys sorted by UTF-16
// code units, no insignificant whitespace, strings and numbers serialised exactly as ECMAScript's
// JSON.stringify does (which is what RFC 8785 specifies for them). Used for every hash that must be
// reproducible elsewhere: audit records, approval bindings, idempotency request hashes.
import { createHash } from "node:crypto";

export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      // NaN/Infinity have no JSON form; silently writing `null` would hash a different value than stored.
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
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
      // The default sort compares UTF-16 code units, which is exactly RFC 8785's key order.
      const keys = Object.keys(value).sort();
      let out = "{";
      for (const key of keys) {
        const member = (value as Record<string, unknown>)[key];
        if (member === undefined || typeof member === "function") continue;
        if (out.length > 1) out += ",";
        out += JSON.stringify(key) + ":" + canonicalJson(member);
      }
      return out + "}";
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
  }
}

/** Lower-case hex SHA-256 of the canonical JSON of `value`. */
export function sha256Canonical(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value), "utf8").digest("hex");
}
