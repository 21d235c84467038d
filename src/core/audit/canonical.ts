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
      if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
        return canonicalJson((value as { toJSON: () => unknown }).toJSON());
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined && typeof v !== "function")
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
  }
}

/** Lower-case hex SHA-256 of the canonical JSON of `value`. */
export function sha256Canonical(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value), "utf8").digest("hex");
}
