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

function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length) {
    const node = stack.pop() as { value: unknown; depth: number };
    if (node.value === null || typeof node.value !== "object") continue;
    const depth = node.depth + 1;
    deepest = Math.max(deepest, depth);
    for (const member of Object.values(node.value)) stack.push({ value: member, depth });
  }
  return deepest;
}

/** The value itself when within bounds, else its summary. */
export function boundValue(
  value: unknown,
  maxBytes = MAX_STORED_VALUE_BYTES,
  maxDepth = MAX_STORED_VALUE_DEPTH,
): unknown | TruncatedValue {
  if (value === null || typeof value === "boolean" || typeof value === "number") return value;
  const json = canonicalJson(value);
  const bytes = Buffer.byteLength(json, "utf8");
  if (bytes <= maxBytes && depthOf(value) <= maxDepth) return value;
  return {
    truncated: true,
    sha256: createHash("sha256").update(json, "utf8").digest("hex"),
    bytes,
    preview: json.slice(0, PREVIEW_CHARS),
  };
}

/**
 * Bounds each member of an object (params, a result's data) and then the whole. Returns the stored object and
 * the dot paths (rooted at `root`) that were summarised.
 */
export function boundMembers(root: string, value: unknown): { value: unknown; truncated: string[] } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const bounded = boundValue(value);
    return { value: bounded, truncated: bounded === value ? [] : [root] };
  }
  const truncated: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    const bounded = boundValue(member);
    if (bounded !== member) truncated.push(`${root}.${key}`);
    out[key] = bounded;
  }
  const whole = boundValue(out, MAX_STORED_TOTAL_BYTES, MAX_STORED_VALUE_DEPTH + 1);
  if (whole !== out) return { value: whole, truncated: [root] };
  return { value: out, truncated };
}
