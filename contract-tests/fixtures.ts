// A fresh Gatehouse per replayed example: its own data directory, the demo ecosystem, one API key.
// Faces register per-example setup here (state an example needs, created through the API only).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../src/config";
import { logger } from "../src/core/log/logger";
import { startGatehouse, type Gatehouse } from "../src/server";

export const API_KEY = "contract-test-api-key";
/** The org of the seed 003 examples' paths; the environment's API key belongs to it. */
export const ORG_ID = "550e8400-e29b-41d4-a716-446655440000";
export const ECOSYSTEM = resolve(import.meta.dirname, "../examples/ecosystem");

export interface TestGatehouse extends Gatehouse {
  operatorToken: string;
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
  const operatorToken = await gatehouse.devIssuer!.mint({ sub: "operator@contract", org: ORG_ID, roles: ["operator"] });
  return {
    ...gatehouse,
    operatorToken,
    async dispose() {
      await gatehouse.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** What an example needs to exist before it is replayed (set up through the public API). */
export type Setup = (g: TestGatehouse) => Promise<void>;
export const setups: Record<string, Setup> = {};
