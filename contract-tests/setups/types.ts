// What a setup of the example replay is: the state an example needs, created through the API only, and what it
// hands back to the replay (../fixtures.ts collects the setups of every face).
import type { TestGatehouse } from "../../src/test-support/gatehouse";
import type { ExampleCase } from "../examples";

export type { TestGatehouse };

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
