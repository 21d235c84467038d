import path from "node:path";
import { describe, expect, it } from "vitest";
import { bareCommandWarnings, purutosConfigFromEnv } from "./config";

describe("purutosConfigFromEnv", () => {
  it("defaults: ecosystem root is the parent of cwd, 30 s timeout, 1 MiB output, no extras, no agent", () => {
    const config = purutosConfigFromEnv({}, "/srv/purutos/gatehouse");
    expect(config).toMatchObject({
      dataPath: null,
      ecosystemRoot: "/srv/purutos",
      commandTimeoutMs: 30_000,
      commandOutputLimit: 1024 * 1024,
      extraCommands: [],
      agentCommand: null,
      agentEnv: [],
    });
  });

  it("reads every variable, resolving relative paths against cwd", () => {
    const config = purutosConfigFromEnv(
      {
        PURUTO_DATA_PATH: "../puruto-data",
        GATEHOUSE_ECOSYSTEM_ROOT: "examples/ecosystem",
        GATEHOUSE_COMMAND_TIMEOUT_MS: "5000",
        GATEHOUSE_COMMAND_OUTPUT_LIMIT: "65536",
        GATEHOUSE_EXTRA_COMMANDS: " balance, report ,",
        GATEHOUSE_AGENT_COMMAND: '["claude", "-p"]',
        GATEHOUSE_AGENT_ENV: "ANTHROPIC_API_KEY",
      },
      "/srv/gatehouse",
    );
    expect(config).toMatchObject({
      dataPath: path.resolve("/srv/puruto-data"),
      ecosystemRoot: "/srv/gatehouse/examples/ecosystem",
      commandTimeoutMs: 5000,
      commandOutputLimit: 65536,
      extraCommands: ["balance", "report"],
      agentCommand: ["claude", "-p"],
      agentEnv: ["ANTHROPIC_API_KEY"],
    });
  });

  it.each([
    [{ GATEHOUSE_COMMAND_TIMEOUT_MS: "30s" }, /GATEHOUSE_COMMAND_TIMEOUT_MS must be a positive integer/],
    [{ GATEHOUSE_COMMAND_TIMEOUT_MS: "0" }, /GATEHOUSE_COMMAND_TIMEOUT_MS/],
    // Past a Node timer's range the timeout fired after 1 ms: every command was killed at once.
    [{ GATEHOUSE_COMMAND_TIMEOUT_MS: "3000000000" }, /GATEHOUSE_COMMAND_TIMEOUT_MS must be at most 2147483647/],
    [{ GATEHOUSE_COMMAND_OUTPUT_LIMIT: "-1" }, /GATEHOUSE_COMMAND_OUTPUT_LIMIT/],
    [{ GATEHOUSE_EXTRA_COMMANDS: "balance,../x" }, /GATEHOUSE_EXTRA_COMMANDS .*"\.\.\/x"/],
    [{ GATEHOUSE_AGENT_COMMAND: "claude -p" }, /GATEHOUSE_AGENT_COMMAND must be a JSON array/],
    [{ GATEHOUSE_AGENT_COMMAND: "[]" }, /non-empty JSON array/],
    [{ GATEHOUSE_AGENT_COMMAND: '["claude", 1]' }, /non-empty JSON array/],
    [{ GATEHOUSE_AGENT_ENV: "A-B" }, /GATEHOUSE_AGENT_ENV/],
    [{ GATEHOUSE_MAX_QUEUED_COMMANDS: "-1" }, /GATEHOUSE_MAX_QUEUED_COMMANDS must be a positive integer/],
  ])("rejects %j with a clear message", (env, message) => {
    expect(() => purutosConfigFromEnv(env, "/srv/gatehouse")).toThrow(message);
  });

  it("queues 64 callers by default, and none with GATEHOUSE_MAX_QUEUED_COMMANDS=0", () => {
    expect(purutosConfigFromEnv({}, "/srv/gatehouse").maxQueuedCommands).toBe(64);
    const none = purutosConfigFromEnv({ GATEHOUSE_MAX_QUEUED_COMMANDS: "0" }, "/srv/gatehouse");
    expect(none.maxQueuedCommands).toBe(0);
  });

  it("accepts the longest timeout a timer can wait", () => {
    const config = purutosConfigFromEnv({ GATEHOUSE_COMMAND_TIMEOUT_MS: "2147483647" }, "/srv/gatehouse");
    expect(config.commandTimeoutMs).toBe(2_147_483_647);
  });
});

describe("bare GATEHOUSE_EXTRA_COMMANDS entries", () => {
  it("are warned about at start-up, naming the scoped form; scoped entries and * are not", () => {
    expect(bareCommandWarnings(["balance", "puruto-financial:report", "*"])).toEqual([
      'GATEHOUSE_EXTRA_COMMANDS entry "balance" trusts balance in every puruto, present and future; ' +
        "name the puruto instead (<puruto>:balance)",
    ]);
  });
});
