// Replaying the spec's examples against a real Gatehouse: per-example setup (state an example needs, created
// through the API only) and the documented request with its overrides.
import type { ExampleCase } from "./examples";
import { evidenceSetups } from "./setups/evidence";
import { governedActionSetups } from "./setups/governed-actions";
import { operatorSetups } from "./setups/operator";
import type { RequestOverrides, Setup } from "./setups/types";

// The one test Gatehouse lives in src/test-support; the replay and the faces' tests share it.
export {
  API_KEY,
  ECOSYSTEM,
  ORG_ID,
  startTestGatehouse,
  type TestGatehouse,
  type TestGatehouseOptions,
} from "../src/test-support/gatehouse";
export type { Prepared, RequestOverrides, Setup } from "./setups/types";

/** Example name → its setup. */
export const setups: Record<string, Setup> = { ...governedActionSetups, ...evidenceSetups, ...operatorSetups };

/** The documented request with a setup's overrides applied. */
export function withOverrides(c: ExampleCase, overrides: RequestOverrides = {}): ExampleCase {
  const body =
    overrides.body === undefined ? c.body : { ...((c.body ?? {}) as Record<string, unknown>), ...overrides.body };
  return {
    ...c,
    params: { ...c.params, ...overrides.params },
    query: { ...c.query, ...overrides.query },
    headers: { ...c.headers, ...overrides.headers },
    body,
  };
}
