import type { CheckOutcome } from "./pipeline";
import type { Reason } from "./types";

/** A `fail` outcome (DENY) with one reason. */
export function deny(code: Reason["code"], message: string, details?: Record<string, unknown>): CheckOutcome {
  return { result: "fail", reasons: [{ code, message }], ...(details ? { details } : {}) };
}
