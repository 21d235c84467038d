// Redaction of tool parameters (and results) before anything is hashed or stored.
//
// A tool's configuration lists dot paths rooted at `params` (the action's parameters) or `result` (the
// connector's answer), e.g. `redact: ["params.body", "params.attachments.*.content", "result.data.body"]`.
// `*` matches every key of an object or every item of an array. A path that is absent is ignored: the
// configuration describes what *may* be sensitive, not what every call carries.
export const REDACTED = "[redacted]";

export type RedactRoot = "params" | "result";

/** Returns a redacted deep copy of `value`; the input is never mutated. */
export function redactPaths(root: RedactRoot, value: unknown, paths: readonly string[] | undefined): unknown {
  if (value === undefined || value === null || !paths?.length) return value;
  const copy = structuredClone(value);
  for (const path of paths) {
    const [first, ...rest] = path.split(".");
    if (first !== root) continue;
    if (rest.length === 0) return REDACTED;
    redactInPlace(copy, rest);
  }
  return copy;
}

function redactInPlace(node: unknown, segments: string[]): void {
  if (node === null || typeof node !== "object") return;
  const [head, ...tail] = segments;
  if (head === undefined) return; // an empty path names nothing to redact
  const container = node as Record<string, unknown>;
  const keys = head === "*" ? Object.keys(container) : Object.hasOwn(container, head) ? [head] : [];
  for (const key of keys) {
    if (tail.length === 0) container[key] = REDACTED;
    else redactInPlace(container[key], tail);
  }
}
