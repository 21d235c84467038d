// A fresh Gatehouse per replayed example: its own data directory, the demo ecosystem, one API key.
// Faces register per-example setup here (state an example needs, created through the API only).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../src/config";
import { logger } from "../src/core/log/logger";
import { startGatehouse, type Gatehouse } from "../src/server";
import { tapConformance, type ConformanceTap } from "../src/test-support/conformance";
import type { ExampleCase } from "./examples";
import { governedActionSetups } from "./setups/governed-actions";

export const API_KEY = "contract-test-api-key";
/** The org of the seed 003 examples' paths; the environment's API key belongs to it. */
export const ORG_ID = "550e8400-e29b-41d4-a716-446655440000";
export const ECOSYSTEM = resolve(import.meta.dirname, "../examples/ecosystem");

export interface TestGatehouse extends Gatehouse {
  /** The environment's API key (agents of ORG_ID). */
  apiKey: string;
  /** The org of the API key and of the operator token. */
  orgId: string;
  operatorToken: string;
  /** Every response and WS frame checked against the contract (src/test-support/conformance.ts). */
  conformance: ConformanceTap;
  /** Closes the server, then fails with any traffic that broke the contract. */
  dispose(): Promise<void>;
}

export async function startTestGatehouse(env: Record<string, string> = {}): Promise<TestGatehouse> {
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-contract-"));
  const fullEnv: Record<string, string> = {
    GATEHOUSE_DATA_DIR: dataDir,
    PORT: "0",
    PURUTO_GATEWAY_API_KEY: API_KEY,
    GATEHOUSE_ECOSYSTEM_ROOT: ECOSYSTEM,
    PURUTO_DATA_PATH: join(ECOSYSTEM, "puruto-data"),
    GATEHOUSE_EXTRA_COMMANDS: "balance",
    GATEHOUSE_DEFAULT_ORG: ORG_ID,
    LOG_LEVEL: "silent",
    ...env,
  };
  const gatehouse = await startGatehouse(loadConfig(fullEnv), logger, fullEnv);
  // Before any request: from here on every answer is checked against the contract.
  const conformance = tapConformance(gatehouse.server);
  const operatorToken = await gatehouse.devIssuer!.mint({ sub: "operator@contract", org: ORG_ID, roles: ["operator"] });
  return {
    ...gatehouse,
    apiKey: API_KEY,
    orgId: ORG_ID,
    operatorToken,
    conformance,
    async dispose() {
      await gatehouse.close();
      rmSync(dataDir, { recursive: true, force: true });
      await conformance.assertClean();
    },
  };
}

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
export const setups: Record<string, Setup> = { ...governedActionSetups };

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
