// Bounds every parsed JSON request body must respect before any validator or handler sees it: nesting depth
// and finite numbers. JSON.parse turns `1e309` into Infinity (which no later step can hash, store or echo
// faithfully), and a deeply nested body would make every recursive consumer (canonical JSON, Ajv, the audit
// preview) pay for it or overflow the stack. Checked iteratively, so the check itself cannot overflow.
import { HttpProblem } from "../boundary";

/** Deepest nesting of objects/arrays a request body may have (the top-level value is depth 1). */
export const MAX_JSON_DEPTH = 32;

export interface ShapeViolation {
  pointer: string;
  message: string;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** The first violation of the bounds in `value`, or null. Walks each node once; never recurses. */
export function jsonShapeViolation(value: unknown, maxDepth = MAX_JSON_DEPTH): ShapeViolation | null {
  const stack: { value: unknown; depth: number; pointer: string }[] = [{ value, depth: 0, pointer: "" }];
  while (stack.length > 0) {
    const node = stack.pop() as { value: unknown; depth: number; pointer: string };
    if (typeof node.value === "number") {
      if (!Number.isFinite(node.value)) {
        return { pointer: node.pointer || "/", message: "number is out of range (not a finite IEEE 754 double)" };
      }
      continue;
    }
    if (node.value === null || typeof node.value !== "object") continue;
    const depth = node.depth + 1;
    if (depth > maxDepth) return { pointer: node.pointer || "/", message: `nesting is deeper than ${maxDepth} levels` };
    if (Array.isArray(node.value)) {
      for (let i = 0; i < node.value.length; i++) {
        stack.push({ value: node.value[i], depth, pointer: `${node.pointer}/${i}` });
      }
    } else {
      for (const [key, member] of Object.entries(node.value)) {
        stack.push({ value: member, depth, pointer: `${node.pointer}/${escapePointer(key)}` });
      }
    }
  }
  return null;
}

/** Throws the 400 problem a client sees when its body breaks the bounds. */
export function assertJsonShape(body: unknown): void {
  const violation = jsonShapeViolation(body);
  if (!violation) return;
  const pointer = `/body${violation.pointer === "/" ? "" : violation.pointer}`;
  throw new HttpProblem(400, `Request is invalid: ${pointer}: ${violation.message}`, {
    code: "VALIDATION_FAILED",
    errors: [{ pointer, message: violation.message }],
  });
}
