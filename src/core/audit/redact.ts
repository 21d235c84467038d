// Redaction of tool parameters (and results) before anything is hashed or stored.
//
// A tool's configuration lists dot paths rooted at `params` (the action's parameters) or `result` (the
// connector's answer), e.g. `redact: ["params.body", "params.attachments.*.content", "result.data.body"]`.
// `*` matches every key of an object or every item of an array. A path that is absent is ignored: the
// configuration describes what *may* be sensitive, not what every call carries.
// A segment names a key in any spelling the policy would read it in (foldKey: NFKC, any letter case, separators
// ignored): `params.body` also redacts `Body`, `BODY` and `ｂｏｄｙ`, `params.api_key` also `apiKey`. An agent
// choosing a spelling must not get a secret into the signed audit log, which can never drop it again.
import { foldKey } from "../policy/extract";
import { setOwn } from "./bound";

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
  for (const key of matchingKeys(container, head)) {
    if (tail.length === 0) setOwn(container, key, REDACTED);
    else redactInPlace(container[key], tail);
  }
}

/** The keys of `container` that `segment` names: all for `*`, else those that fold to the segment's folded form. */
function matchingKeys(container: Record<string, unknown>, segment: string): string[] {
  const keys = Object.keys(container);
  if (segment === "*") return keys;
  const folded = foldKey(segment);
  return keys.filter((key) => key === segment || foldKey(key) === folded);
}
