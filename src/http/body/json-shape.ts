// Bounds every parsed JSON request body must respect before any validator or handler sees it: nesting depth
// and finite numbers. JSON.parse turns `1e309` into Infinity (which no later step can hash, store or echo
// faithfully), and a deeply nested body would make every recursive consumer (canonical JSON, Ajv, the audit
// preview) pay for it or overflow the stack. Checked iteratively, so the check itself cannot overflow.
//
// And well-formed strings, keys included: JSON may escape a lone surrogate (`"\ud800"`), which is no Unicode text.
// JavaScript hashes it as sent, but a text column stores it as U+FFFD (SQLite: three of them, PostgreSQL: one): an
// audit record whose agent_id held one no longer matched its hash once read back, and the org's chain failed
// verification for good; PostgreSQL also took `k\ud800` and `k\ufffd` for one idempotency key. I-JSON (RFC 7493)
// refuses such strings: so does every body here.
import { HttpProblem } from "../boundary";

/** Deepest nesting of objects/arrays a request body may have (the top-level value is depth 1). */
export const MAX_JSON_DEPTH = 32;

export interface ShapeViolation {
  pointer: string;
  message: string;
}

/** A member name as a JSON pointer token (RFC 6901), a lone surrogate spelled out. */
export function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1").replace(LONE_SURROGATE, spelledOut);
}

// A member's name holding a lone surrogate is refused by name: echoed as it is, it would make the 400 answer itself
// the text it refuses (not I-JSON, stored as U+FFFD by a client's log). The surrogate is written as the text `\udc00`.
const LONE_SURROGATE = /\p{Surrogate}/gu;
const spelledOut = (unit: string) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * One value waiting to be checked, with the way back to the root: the JSON pointer is only spelled out for the
 * value that breaks a bound, not built for every node of every body.
 */
interface Pending {
  value: unknown;
  depth: number;
  parent: Pending | undefined;
  key: string;
}

/**
 * Queues `member` when it could break a bound: an object, an array, a number that is not finite, a string (or a
 * member's key) that is not well-formed Unicode.
 */
function queue(stack: Pending[], member: unknown, depth: number, parent: Pending | undefined, key: string): void {
  const breaks =
    typeof member === "string"
      ? !isWellFormed(member)
      : typeof member === "number"
        ? !Number.isFinite(member)
        : member !== null && typeof member === "object";
  if (breaks || !isWellFormed(key)) stack.push({ value: member, depth, parent, key });
}

const isWellFormed = (text: string): boolean => text.isWellFormed();

const ILL_FORMED = "is not well-formed Unicode (it holds a lone surrogate, such as \\ud800)";

function pointerOf(node: Pending): string {
  let pointer = "";
  for (let at: Pending | undefined = node; at?.parent; at = at.parent) pointer = `/${escapePointer(at.key)}${pointer}`;
  return pointer || "/";
}

/**
 * The first violation of the bounds in `value`, or null. Walks each node once; never recurses. Well-formed strings,
 * booleans, null and finite numbers cannot break a bound and are not queued (the order in which violations are
 * found is the same as when every node was).
 */
export function jsonShapeViolation(value: unknown, maxDepth = MAX_JSON_DEPTH): ShapeViolation | null {
  const stack: Pending[] = [];
  queue(stack, value, 0, undefined, "");
  while (stack.length > 0) {
    const node = stack.pop() as Pending;
    if (!isWellFormed(node.key)) return { pointer: pointerOf(node), message: `the member's name ${ILL_FORMED}` };
    if (typeof node.value === "string") return { pointer: pointerOf(node), message: `string ${ILL_FORMED}` };
    if (typeof node.value === "number") {
      return { pointer: pointerOf(node), message: "number is out of range (not a finite IEEE 754 double)" };
    }
    const depth = node.depth + 1;
    if (depth > maxDepth) return { pointer: pointerOf(node), message: `nesting is deeper than ${maxDepth} levels` };
    if (Array.isArray(node.value)) {
      for (let i = 0; i < node.value.length; i++) queue(stack, node.value[i], depth, node, String(i));
    } else {
      const members = node.value as Record<string, unknown>;
      for (const key of Object.keys(members)) queue(stack, members[key], depth, node, key);
    }
  }
  return null;
}

/** Throws the 400 problem a client sees when its body breaks the bounds. */
export function assertJsonShape(body: unknown): void {
  const violation = jsonShapeViolation(body);
  if (violation) throw shapeProblem(violation);
}

/** The 400 VALIDATION_FAILED problem naming a violation of a body's bounds (its pointer under /body). */
export function shapeProblem(violation: ShapeViolation): HttpProblem {
  const pointer = `/body${violation.pointer === "/" ? "" : violation.pointer}`;
  return new HttpProblem(400, `Request is invalid: ${pointer}: ${violation.message}`, {
    code: "VALIDATION_FAILED",
    errors: [{ pointer, message: violation.message }],
  });
}
