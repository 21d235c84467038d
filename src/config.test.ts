import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config";

describe("configuration from the environment", () => {
  it("defaults to the embedded default on 127.0.0.1:8000", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ host: "127.0.0.1", port: 8000, apiKeys: [], defaultOrg: "default", jwksCacheTtlSeconds: 3600 });
  });

  it("honours the seeds' variable names", () => {
    const c = loadConfig({
      PURUTO_GATEWAY_HOST: "0.0.0.0",
      PURUTO_GATEWAY_PORT: "8787",
      PURUTO_GATEWAY_API_KEY: "a-long-enough-key",
      AGENT_RUNTIME_URL: "http://agent-runtime:8001",
      REDIS_URL: "redis://redis:6379/0",
      JWKS_URL: "http://auth-service:8003/.well-known/jwks.json",
      JWKS_CACHE_TTL: "60",
      LOG_LEVEL: "INFO",
    });
    expect(c).toMatchObject({
      host: "0.0.0.0",
      port: 8787,
      apiKeys: ["a-long-enough-key"],
      agentRuntimeUrl: "http://agent-runtime:8001",
      redisUrl: "redis://redis:6379/0",
      jwksCacheTtlSeconds: 60,
      logLevel: "info",
    });
  });

  it("HOST/PORT win over the puruto names", () => {
    expect(loadConfig({ PORT: "9000", PURUTO_GATEWAY_PORT: "8787" }).port).toBe(9000);
  });

  it.each([
    [{ PORT: "eighty" }, /PORT must be an integer/],
    [{ PORT: "70000" }, /PORT must be between/],
    [{ JWKS_URL: "not a url" }, /JWKS_URL must be a URL/],
    [{ REDIS_URL: "http://x" }, /REDIS_URL must use redis:/],
    [{ LOG_LEVEL: "loud" }, /LOG_LEVEL must be one of/],
    [{ PURUTO_GATEWAY_API_KEY: "short" }, /at least 8 characters/],
    [{ GATEHOUSE_DEFAULT_ORG: "../etc" }, /GATEHOUSE_DEFAULT_ORG/],
  ])("a bad value stops start-up with a message naming the variable: %j", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
