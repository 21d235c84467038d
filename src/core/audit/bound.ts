// Stored values are bounded: whatever an agent sends, an audit record stays small enough for every operator
// read (list, get, export, online verify) to keep working. A value above the size or depth limit is stored as
// its hash, its size and a truncated preview of its canonical JSON, and the record lists the paths it bounded
// (meta.truncated), so an operator knows the stored value is a summary and can still match the original by hash.
import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical";

/** Canonical JSON bytes above which one stored value (one param, a result's data) is summarised. */
export const MAX_STORED_VALUE_BYTES = 8 * 1024;
/** Nesting deeper than this is summarised (the boundary already refuses bodies deeper than 32). */
export const MAX_STORED_VALUE_DEPTH = 8;
/** Canonical JSON bytes above which a whole params object is summarised, even if each member is small. */
export const MAX_STORED_TOTAL_BYTES = 64 * 1024;
export const PREVIEW_CHARS = 256;

export interface TruncatedValue {
  truncated: true;
  sha256: string;
  bytes: number;
  preview: string;
}

/**
 * Deepest nesting a connector's result may have to be stored and answered as it is. JSON.stringify recurses on the
 * native stack: an upstream's 5,000 nested brackets overflowed it after the call had gone out (execute.ts `storable`).
 */
export const MAX_RESULT_DEPTH = 64;

/** Whether `value` nests objects/arrays deeper than `limit` (iterative: any depth is measured without recursion). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length) {
    const node = stack.pop() as { value: unknown; depth: number };
    if (node.value === null || typeof node.value !== "object") continue;
    const depth = node.depth + 1;
    if (depth > limit) return true;
    for (const member of Object.values(node.value)) stack.push({ value: member, depth });
  }
  return false;
}

/**
 * At most this many UTF-8 bytes in a string's canonical JSON: JSON writes one UTF-16 code unit as at most 6 bytes
 * (`\u001f`, a lone surrogate's `\udxxx`; other units 1 to 3 bytes), plus the two quotes.
 */
const quotedBytesAtMost = (text: string): number => text.length * 6 + 2;

/** A stored value and an upper bound of its canonical JSON's UTF-8 bytes. */
interface Bounded {
  value: unknown;
  bytesAtMost: number;
}

/**
 * The value itself when within bounds, else its summary; with an upper bound of its size. A string short enough
 * to be within bounds whatever it holds is not serialised to find out: the meta and params of every audit record
 * pass here, and most of their members are such strings.
 */
function bounded(value: unknown, maxBytes: number, maxDepth: number): Bounded {
  if (value === null || typeof value === "boolean") return { value, bytesAtMost: 5 };
  if (typeof value === "string" && quotedBytesAtMost(value) <= maxBytes)
    return { value, bytesAtMost: quotedBytesAtMost(value) };
  if (typeof value === "number") return { value, bytesAtMost: 24 }; // the longest ToString of a finite double
  const json = canonicalJson(value);
  const bytes = Buffer.byteLength(json, "utf8");
  if (bytes <= maxBytes && !nestedDeeperThan(value, maxDepth)) return { value, bytesAtMost: bytes };
  const summary: TruncatedValue = {
    truncated: true,
    sha256: createHash("sha256").update(json, "utf8").digest("hex"),
    bytes,
    preview: json.slice(0, PREVIEW_CHARS),
  };
  return { value: summary, bytesAtMost: Buffer.byteLength(canonicalJson(summary), "utf8") };
}

/**
 * Sets `object[key]` as an own member, `__proto__` included: JSON.parse makes `{"__proto__": …}` an own member (a
 * connector's answer, a command's output may hold one), while an assignment of that key would change the object's
 * prototype instead and the member would vanish from what is stored and signed.
 */
export function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else object[key] = value;
}

/** The value itself when within bounds, else its summary. */
export function boundValue(
  value: unknown,
  maxBytes = MAX_STORED_VALUE_BYTES,
  maxDepth = MAX_STORED_VALUE_DEPTH,
): unknown | TruncatedValue {
  return bounded(value, maxBytes, maxDepth).value;
}

/**
 * Bounds each member of an object (params, a result's data) and then the whole. Returns the stored object and
 * the dot paths (rooted at `root`) that were summarised.
 */
export function boundMembers(root: string, value: unknown): { value: unknown; truncated: string[] } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const whole = boundValue(value);
    return { value: whole, truncated: whole === value ? [] : [root] };
  }
  const truncated: string[] = [];
  const out: Record<string, unknown> = {};
  let bytesAtMost = 2; // the braces
  for (const [key, member] of Object.entries(value)) {
    const stored = bounded(member, MAX_STORED_VALUE_BYTES, MAX_STORED_VALUE_DEPTH);
    if (stored.value !== member) truncated.push(`${root}.${key}`);
    setOwn(out, key, stored.value);
    bytesAtMost += quotedBytesAtMost(key) + stored.bytesAtMost + 2; // the colon and a comma
  }
  // Each member is now at most MAX_STORED_VALUE_DEPTH deep, so the whole is within the depth it is allowed; its
  // size needs measuring only when the members' bounds add up to more than it may take.
  if (bytesAtMost <= MAX_STORED_TOTAL_BYTES) return { value: out, truncated };
  const whole = boundValue(out, MAX_STORED_TOTAL_BYTES, MAX_STORED_VALUE_DEPTH + 1);
  if (whole !== out) return { value: whole, truncated: [root] };
  return { value: out, truncated };
}
