// Replaying the spec's examples against a real Gatehouse: per-example setup (state an example needs, created
// through the API only) and the documented request with its overrides.
import type { ExampleCase } from "./examples";
import { evidenceSetups } from "./setups/evidence";
import { governedActionSetups } from "./setups/governed-actions";
import { operatorSetups } from "./setups/operator";
import type { TestGatehouse } from "../src/test-support/gatehouse";

// The one test Gatehouse lives in src/test-support; the replay and the faces' tests share it.
export {
  API_KEY,
  ECOSYSTEM,
  ORG_ID,
  startTestGatehouse,
  type TestGatehouse,
  type TestGatehouseOptions,
} from "../src/test-support/gatehouse";

/**
 * Parts of a documented request that can only be known once the setup ran (ids the server issued): path,
 * query and header parameters replace the documented ones; `body` fields replace (or add) top-level fields of
 * the documented body.
 */
export interface RequestOverrides {
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Record<string, unknown>;
}

/** What a setup hands to the replay. */
export interface Prepared {
  request?: RequestOverrides;
  /** What the setup created that the comparison needs (e.g. the original answer an idempotent replay repeats). */
  facts?: Record<string, unknown>;
}

/** What an example needs to exist before it is replayed, created through the public API only. */
export type Setup = (g: TestGatehouse, example: ExampleCase) => Promise<Prepared | void>;

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
