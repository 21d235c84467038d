// make run's banner: the `export` lines it prints, pasted into a shell, set everything the README's examples use —
// curl's API_KEY / ORG_ID / TOKEN, the WebSocket example's IDE_TOKEN, and what the gatehouse CLI reads for its
// commands over the API (GATEHOUSE_URL, GATEHOUSE_TOKEN, GATEHOUSE_API_KEY), on whatever port it listens.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { type BannerFacts, bannerLines, cliCommand } from "./banner";

const FACTS: BannerFacts = {
  url: "http://127.0.0.1:18510",
  dataDir: "/tmp/data",
  apiKey: "gatehouse-dev-key",
  credentials: true,
  org: "default",
  agentRuntime: "http://127.0.0.1:18511 (reference runtime, own process)",
  tokens: { operator: "op.jwt.sig", ide: "ide.jwt.sig" },
};

/** Pastes the banner's `export` lines into bash, as a person does, and returns the environment they leave. */
function pasted(lines: string[]): Record<string, string> {
  const exports = lines.filter((l) => l.trimStart().startsWith("export ")).join("\n");
  const run = spawnSync("bash", ["--noprofile", "--norc", "-c", `${exports}\nenv -0`], {
    env: { PATH: process.env.PATH },
    encoding: "utf8",
  });
  expect(run.stderr).toBe("");
  return Object.fromEntries(
    run.stdout
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
}

describe("the start-up banner", () => {
  it("its export lines set what the README's curl, WebSocket and CLI examples read", () => {
    const env = pasted(bannerLines(FACTS));
    expect(env).toMatchObject({
      API_KEY: "gatehouse-dev-key",
      ORG_ID: "default",
      TOKEN: "op.jwt.sig",
      IDE_TOKEN: "ide.jwt.sig",
      GATEHOUSE_URL: "http://127.0.0.1:18510",
      GATEHOUSE_TOKEN: "op.jwt.sig",
      GATEHOUSE_API_KEY: "gatehouse-dev-key",
      GATEHOUSE_DATA_DIR: "/tmp/data",
    });
  });

  it("names the data folder for the CLI's token command, whatever its path holds (R7)", () => {
    for (const dataDir of ["/srv/gate house/data", "/tmp/it's here", "/tmp/$HOME;rm -rf x"])
      expect(pasted(bannerLines({ ...FACTS, dataDir })).GATEHOUSE_DATA_DIR).toBe(dataDir);
  });

  it("outside the development default it prints no credential, only how to get one (R10)", () => {
    const production = { ...FACTS, credentials: false, issuer: true, cli: "node dist/cli.js" };
    const text = bannerLines(production).join("\n");
    for (const secret of ["gatehouse-dev-key", "op.jwt.sig", "ide.jwt.sig"]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/export /);
    expect(text).toContain('curl -H "X-API-Key: $PURUTO_GATEWAY_API_KEY" http://127.0.0.1:18510/purutos');
    expect(text).toContain("operator token: node dist/cli.js token --sub you --org default --role operator");
    expect(text).toContain("console: http://127.0.0.1:18510/console   (sign in with an operator token)");
    expect(bannerLines({ ...production, issuer: false }).join("\n")).not.toContain("operator token:");
  });

  it("names the WebSocket URL on the server's port and points at the IDE token", () => {
    expect(bannerLines(FACTS)).toContain("  ws://127.0.0.1:18510/ws/my-session   Authorization: Bearer $IDE_TOKEN");
  });

  it("without an API key, the export lines still paste cleanly and say what to set", () => {
    const { apiKey: _, ...noKey } = FACTS;
    const lines = bannerLines(noKey);
    const env = pasted(lines);
    expect(env.API_KEY).toBeUndefined();
    expect(env.GATEHOUSE_API_KEY).toBeUndefined();
    expect(env).toMatchObject({ ORG_ID: "default", GATEHOUSE_TOKEN: "op.jwt.sig" });
    expect(lines.join("\n")).toMatch(/set PURUTO_GATEWAY_API_KEY/);
  });

  it("with an external identity provider (no development issuer) it prints no tokens", () => {
    const { tokens: _, ...noIssuer } = FACTS;
    const text = bannerLines(noIssuer).join("\n");
    expect(text).not.toMatch(/TOKEN=|jwt/);
    expect(text).toContain("curl http://127.0.0.1:18510/health");
  });

  it("names the CLI the running installation has: node dist/cli.js beside the production bundle, else npm run", () => {
    expect(cliCommand("/srv/gatehouse/dist/main.js", "/srv/gatehouse")).toBe("node dist/cli.js");
    expect(cliCommand("/srv/gatehouse/dist/main.js", "/elsewhere")).toBe("node /srv/gatehouse/dist/cli.js");
    expect(cliCommand("/work/gatehouse/src/main.ts", "/work/gatehouse")).toBe("npm run -s gatehouse --");
    const production = bannerLines({ ...FACTS, cli: "node dist/cli.js" }).join("\n");
    expect(production).toContain("more tokens: node dist/cli.js token --sub alice");
    expect(production).not.toContain("npm run");
  });
});
