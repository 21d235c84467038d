import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIG_VARIABLES, ConfigError, checkDataDir, loadConfig, readDotEnv } from "./config";

describe("configuration from the environment", () => {
  it("defaults to the embedded default on 127.0.0.1:8000", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: 8000,
      apiKeys: [],
      defaultOrg: "default",
      jwksCacheTtlSeconds: 3600,
    });
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
    [{ LOG_LEVEL: "verbose" }, /LOG_LEVEL must be one of/],
    [{ GATEHOUSE_SHUTDOWN_TIMEOUT_MS: "soon" }, /GATEHOUSE_SHUTDOWN_TIMEOUT_MS must be an integer/],
    [{ PURUTO_GATEWAY_API_KEY: "short" }, /at least 8 characters/],
    [{ GATEHOUSE_DEFAULT_ORG: "../etc" }, /GATEHOUSE_DEFAULT_ORG/],
    // The faces' own variables are checked here too, before anything starts (exit 2, not a stack trace).
    [
      { GATEHOUSE_EXTRA_COMMANDS: "balance,a b" },
      /GATEHOUSE_EXTRA_COMMANDS must be a comma-separated list of <puruto>:<skill> entries .*, got "a b"/,
    ],
    [{ GATEHOUSE_AGENT_COMMAND: "notjson" }, /GATEHOUSE_AGENT_COMMAND must be a JSON array of strings \(argv\)/],
    [{ GATEHOUSE_AGENT_COMMAND: "[]" }, /GATEHOUSE_AGENT_COMMAND must be a non-empty JSON array/],
    [{ GATEHOUSE_AGENT_COMMAND: '["claude", ""]' }, /GATEHOUSE_AGENT_COMMAND must be a non-empty JSON array/],
    [
      { GATEHOUSE_AGENT_ENV: "HOME,A-B" },
      /GATEHOUSE_AGENT_ENV must be a comma-separated list of variable names, got "A-B"/,
    ],
    [{ GATEHOUSE_PURUTO_ORG: "a/b" }, /GATEHOUSE_PURUTO_ORG must be 1-64 letters/],
    [{ GATEHOUSE_MANIFEST_ORG: "a b" }, /GATEHOUSE_MANIFEST_ORG must be 1-64 letters/],
    [{ GATEHOUSE_SECRETS_ORG: "a,b" }, /GATEHOUSE_SECRETS_ORG must be an org or \*/],
  ])("a bad value stops start-up with a message naming the variable: %j", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe("GATEHOUSE_EXTRA_COMMANDS puruto-scoped entries", () => {
  // One `:`, both parts non-empty plain ASCII names: nothing that could match another puruto by accident.
  it.each([
    "puruto-financial:",
    ":balance",
    "a:b:c",
    "puruto-financial::balance",
    "puruto-financial/balance",
    "puruto-financial;balance",
    "puruto-financial:bal.ance",
    "puruto-fin\u0430ncial:balance",
    "../x:balance",
    "puruto-financial:*",
    "*:balance",
  ])("a malformed entry stops start-up, naming it: %j", (bad) => {
    const env = { GATEHOUSE_EXTRA_COMMANDS: `puruto-financial:balance,${bad}` };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(`got "${bad}"`);
  });
});

describe("the faces' variables", () => {
  it("accept what their faces accept", () => {
    const env = {
      GATEHOUSE_EXTRA_COMMANDS: "balance, report_1,*, puruto-financial:balance, puruto.x:init",
      GATEHOUSE_AGENT_COMMAND: '["claude","-p"]',
      GATEHOUSE_AGENT_ENV: "HOME, ANTHROPIC_API_KEY",
      GATEHOUSE_PURUTO_ORG: "acme-1",
      GATEHOUSE_MANIFEST_ORG: "acme_2",
    };
    expect(() => loadConfig(env)).not.toThrow();
  });
});

describe("GATEHOUSE_SECRETS_ORG", () => {
  it("is the default org unless set; * lets every org use the gateway's secrets and private network", () => {
    expect(loadConfig({}).secretsOrg).toBe("default");
    expect(loadConfig({ GATEHOUSE_DEFAULT_ORG: "acme" }).secretsOrg).toBe("acme");
    expect(loadConfig({ GATEHOUSE_SECRETS_ORG: "ops" }).secretsOrg).toBe("ops");
    expect(loadConfig({ GATEHOUSE_SECRETS_ORG: "*" }).secretsOrg).toBeUndefined();
  });
});

describe("one schema (CONFIG_VARIABLES) checks and parses", () => {
  const withRule = (kind: string) =>
    CONFIG_VARIABLES.filter((v) => v.check?.kind === kind).flatMap((v) => [v.name, ...(v.aliases ?? [])]);

  it.each(withRule("integer"))("%s: a value that is not an integer is refused, naming it", (name) => {
    expect(() => loadConfig({ [name]: "lots" })).toThrow(new ConfigError(name, 'must be an integer, got "lots"'));
  });

  it.each(withRule("url"))("%s: a value that is not a URL is refused, naming it", (name) => {
    expect(() => loadConfig({ [name]: "not a url" })).toThrow(new ConfigError(name, 'must be a URL, got "not a url"'));
  });

  it.each(withRule("oneOf"))("%s: a word outside its list is refused, naming it and the list", (name) => {
    expect(() => loadConfig({ [name]: "bogus" })).toThrow(
      new RegExp(`^Invalid configuration: ${name} must be one of .+, got "bogus"$`),
    );
  });

  it("the documented defaults are the parsed defaults", () => {
    const doc = (name: string) => CONFIG_VARIABLES.find((v) => v.name === name)!.default;
    expect(loadConfig({})).toMatchObject({
      host: doc("HOST"),
      port: Number(doc("PORT")),
      maxBodyBytes: Number(doc("GATEHOUSE_MAX_BODY_BYTES")),
      jwksCacheTtlSeconds: Number(doc("JWKS_CACHE_TTL")),
      jwtIssuer: doc("GATEHOUSE_JWT_ISSUER"),
      jwtAudience: doc("GATEHOUSE_JWT_AUDIENCE"),
      agentRuntimePort: Number(doc("AGENT_RUNTIME_PORT")),
      logLevel: doc("LOG_LEVEL"),
      shutdownTimeoutMs: Number(doc("GATEHOUSE_SHUTDOWN_TIMEOUT_MS")),
    });
  });

  it("checks the faces' variables too, before any face reads them", () => {
    expect(() => loadConfig({ GATEHOUSE_WS_REPLAY_WINDOW_MS: "2 minutes" })).toThrow(/GATEHOUSE_WS_REPLAY_WINDOW_MS/);
    expect(() => loadConfig({ GATEHOUSE_EMBEDDED_RUNTIME: "yes" })).toThrow(
      /GATEHOUSE_EMBEDDED_RUNTIME must be one of 0, 1/,
    );
  });
});

describe("the configuration reference", () => {
  it("README's table is the one generated from CONFIG_VARIABLES (run `make readme-config`)", async () => {
    const { README, withConfigTable } = await import("../deploy/readme-config");
    const readme = readFileSync(README, "utf8");
    expect(readme).toBe(withConfigTable(readme));
  });

  it("documents every variable the configuration code reads", () => {
    const files = [
      "src/config.ts",
      "src/server.ts",
      "src/cli/serve.ts",
      "src/cli/program.ts",
      ...readdirSync("src/faces")
        .map((f) => `src/faces/${f}/config.ts`)
        .filter((f) => existsSync(f)),
    ];
    const documented = new Set(CONFIG_VARIABLES.flatMap((v) => [v.name, ...(v.aliases ?? [])]));
    const code = files.map((f) => readFileSync(f, "utf8").replace(/CONFIG_VARIABLES[\s\S]*?\n\];/, "")).join("\n");
    const read = new Set(code.match(/\b(?:GATEHOUSE|PURUTO|AGENT_RUNTIME)_[A-Z_]*[A-Z]\b/g));
    read.delete("GATEHOUSE_SECRET_");
    expect([...read].filter((name) => !documented.has(name))).toEqual([]);
  });

  it("documents every variable any server or CLI module reads from an environment (`env.X`, `process.env.X`)", () => {
    const sources = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const path = join(dir, e.name);
        if (e.isDirectory()) return e.name === "test-support" || e.name === "e2e" ? [] : sources(path);
        return /(?<!\.test|\.fixture|testing|test-support)\.ts$/.test(e.name) ? [path] : [];
      });
    const documented = new Set(CONFIG_VARIABLES.flatMap((v) => [v.name, ...(v.aliases ?? [])]));
    // The platform's own variables, not Gatehouse configuration.
    const platform = new Set(["PATH", "HOME", "NODE_ENV", "CI", "TERM", "INIT_CWD"]); // INIT_CWD: npm's (src/cli/user-path.ts)
    const read = new Set(
      sources("src").flatMap((file) =>
        [
          ...readFileSync(file, "utf8").matchAll(
            /\benv\??\.([A-Z][A-Z0-9_]*[A-Z0-9])\b|\benv\["([A-Z][A-Z0-9_]*)"\]|\(env, \[?"([A-Z][A-Z0-9_]*)"/g,
          ),
        ].map((m) => `${m[1] ?? m[2] ?? m[3]}`),
      ),
    );
    expect([...read].filter((name) => !documented.has(name) && !platform.has(name))).toEqual([]);
    // Names kept in tables (`["GATEHOUSE_RATE_LIMIT_PER_AGENT", …]`) and read with env[name].
    const named = new Set(
      sources("src").flatMap((file) =>
        [...readFileSync(file, "utf8").matchAll(/"((?:GATEHOUSE|AGENT_RUNTIME|OTEL)_[A-Z0-9_]*[A-Z0-9])"/g)].map(
          (m) => `${m[1]}`,
        ),
      ),
    );
    const secretRef = /^GATEHOUSE_SECRET_/; // GATEHOUSE_SECRET_* names a manifest's secret_ref, documented as a prefix
    expect([...named].filter((name) => !documented.has(name) && !secretRef.test(name))).toEqual([]);
  });
});

describe("start-up checks", () => {
  it("an unwritable data dir is a ConfigError naming GATEHOUSE_DATA_DIR", () => {
    const file = join(mkdtempSync(join(tmpdir(), "gatehouse-cfg-")), "a-file");
    writeFileSync(file, "");
    expect(() => checkDataDir(join(file, "data"))).toThrow(/GATEHOUSE_DATA_DIR must name a writable folder/);
    // Where a recursive mkdir used to hang for ever.
    expect(() => checkDataDir("/proc/gatehouse-data")).toThrow(/GATEHOUSE_DATA_DIR/);
  });

  it(".env fills unset variables and never overrides the environment", () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-env-"));
    writeFileSync(join(dir, ".env"), "PORT=9001\nLOG_LEVEL=debug\n");
    const env: Record<string, string | undefined> = { LOG_LEVEL: "warn" };
    expect(readDotEnv(join(dir, ".env"), env)).toEqual(["PORT"]);
    expect(env).toEqual({ PORT: "9001", LOG_LEVEL: "warn" });
  });
});
