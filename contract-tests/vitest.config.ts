import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: resolve(import.meta.dirname, ".."),
  test: {
    include: ["src/**/*.test.ts", "contract-tests/**/*.test.ts", "examples/**/*.test.ts"],
    globalSetup: ["contract-tests/global-setup.ts"],
    env: { NODE_ENV: "test", LOG_LEVEL: "silent" },
    testTimeout: 30_000,
    hookTimeout: 90_000,
    pool: "forks",
  },
});
