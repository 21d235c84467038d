// The one way a test starts Gatehouse: the real composition root (src/server.ts startGatehouse) on a fresh data
// directory, with the demo ecosystem, one API key and silent logs. Tests never wire the server by hand, so what
// they exercise is what runs in production; what differs is said in `options`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../config";
import { logger } from "../core/log/logger";
import { startGatehouse, type Gatehouse } from "../server";
import { type ConformanceTap, tapConformance } from "./conformance";

export const API_KEY = "contract-test-api-key";
/** The org of the seed 003 examples' paths; the environment's API key belongs to it. */
export const ORG_ID = "550e8400-e29b-41d4-a716-446655440000";
export const ECOSYSTEM = resolve(import.meta.dirname, "../../examples/ecosystem");

export interface TestGatehouseOptions {
  /** Environment variables over the defaults below (e.g. `GATEHOUSE_DATA_DIR` to restart on the same data). */
  env?: Record<string, string>;
  /** The default org: the environment's API key belongs to it and `operatorToken` is for it (ORG_ID). */
  orgId?: string;
  /** The environment's API key (API_KEY). */
  apiKey?: string;
  /**
   * Check every answer and frame against the contract (default true). Off only where the check would distort what
   * is measured: the tap parses and validates every frame again inside the gateway's process, so a test of that
   * process's memory or CPU would measure the tap too.
   */
  conformance?: boolean;
  /** The node's clock as its clock-skew guard reads it (src/clock-skew.ts): e.g. one 40 s ahead. */
  now?: () => number;
}

export interface TestGatehouse extends Gatehouse {
  /** The environment's API key (agents of `orgId`). */
  apiKey: string;
  /** The org of the API key and of the operator token. */
  orgId: string;
  /** A bearer token of an operator of `orgId`, from the built-in issuer. */
  operatorToken: string;
  /** A user bearer token for any org, subject and roles (default: an operator of `org`), from the built-in issuer. */
  userTokenFor(org: string, sub?: string, roles?: string[]): Promise<string>;
  /** Closes the server and removes the data directory it created. */
  /** Every response and WS frame checked against the contract (./conformance.ts). */
  conformance: ConformanceTap;
  /** Closes the server, then fails with any traffic that broke the contract. */
  dispose(): Promise<void>;
}

export async function startTestGatehouse(options: TestGatehouseOptions = {}): Promise<TestGatehouse> {
  const { orgId = ORG_ID, apiKey = API_KEY } = options;
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-test-"));
  const env: Record<string, string> = {
    GATEHOUSE_DATA_DIR: dataDir,
    PORT: "0",
    PURUTO_GATEWAY_API_KEY: apiKey,
    GATEHOUSE_ECOSYSTEM_ROOT: ECOSYSTEM,
    PURUTO_DATA_PATH: join(ECOSYSTEM, "puruto-data"),
    GATEHOUSE_EXTRA_COMMANDS: "balance",
    GATEHOUSE_DEFAULT_ORG: orgId,
    LOG_LEVEL: "silent",
    ...options.env,
  };
  const gatehouse = await startGatehouse(loadConfig(env), logger, env, options.now ? { now: options.now } : {});
  // Before any request: from here on every answer is checked against the contract.
  const conformance: ConformanceTap =
    options.conformance === false
      ? { violations: [], assertClean: async () => undefined }
      : tapConformance(gatehouse.server);
  const issuer = gatehouse.devIssuer;
  if (!issuer) throw new Error("startTestGatehouse needs the built-in issuer: do not set JWKS_URL");
  const userTokenFor = (org: string, sub = `operator@${org}`, roles = ["operator"]) => issuer.mint({ sub, org, roles });
  return {
    ...gatehouse,
    apiKey,
    orgId,
    operatorToken: await userTokenFor(orgId, "operator@contract"),
    userTokenFor,
    conformance,
    async dispose() {
      await gatehouse.close();
      // Only the directory made here: a caller's own GATEHOUSE_DATA_DIR outlives this instance.
      rmSync(dataDir, { recursive: true, force: true });
      await conformance.assertClean();
    },
  };
}
