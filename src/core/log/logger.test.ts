// Log format: pretty for a person at a terminal, one JSON object per line for everything else (a pipe, a
// container's log driver), LOG_FORMAT overriding. The choice is a pure function of isTTY + LOG_FORMAT; a real
// start-up with stdout piped proves what a collector reads.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { logFormat } from "./logger";

const ROOT = resolve(import.meta.dirname, "../../..");

describe("logFormat(isTTY, LOG_FORMAT)", () => {
  it.each([
    [true, undefined, "pretty"],
    [false, undefined, "json"],
    [undefined, undefined, "json"],
    [true, "json", "json"],
    [false, "pretty", "pretty"],
    [false, "PRETTY", "pretty"],
    [true, "", "pretty"],
    // An invalid value is refused by loadConfig (naming LOG_FORMAT) before the logger is used.
    [false, "fancy", "json"],
  ] as const)("isTTY=%s LOG_FORMAT=%s → %s", (isTTY, override, expected) => {
    expect(logFormat(isTTY, override)).toBe(expected);
  });
});

/** Starts `src/main.ts` with stdout piped, stops it once it logged "listening", returns what it wrote. */
async function startAndStop(env: Record<string, string>): Promise<{ stdout: string; stderr: string; code: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-logs-"));
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: "0", GATEHOUSE_DATA_DIR: dataDir, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<number>((ok) => child.on("exit", (code) => ok(code ?? -1)));
  await new Promise<void>((ok, fail) => {
    child.stdout.on("data", (d) => {
      stdout += d;
      if (stdout.includes("listening")) ok();
    });
    child.stderr.on("data", (d) => (stderr += d));
    void exited.then((code) => fail(new Error(`exited ${code} before listening:\n${stdout}\n${stderr}`)));
  });
  child.kill("SIGTERM");
  const code = await exited;
  rmSync(dataDir, { recursive: true, force: true });
  return { stdout, stderr, code };
}

describe("a started Gatehouse with stdout piped", () => {
  it("writes only JSON lines to stdout (the human banner goes to stderr)", async () => {
    const { stdout, stderr, code } = await startAndStop({});
    const lines = stdout.split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.find((l) => l.msg === "listening")).toMatchObject({ level: 30, service: "gatehouse" });
    expect(parsed.find((l) => l.msg === "listening")?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stderr).toContain("Gatehouse http://");
    expect(code).toBe(0);
  }, 100_000);

  it("LOG_FORMAT=pretty: readable lines, no JSON", async () => {
    const { stdout, code } = await startAndStop({ LOG_FORMAT: "pretty" });
    expect(stdout).toMatch(/INFO.*listening/);
    for (const line of stdout.split("\n").filter(Boolean)) expect(line.startsWith("{")).toBe(false);
    expect(code).toBe(0);
  }, 100_000);
});
