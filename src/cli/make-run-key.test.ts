// Review R15: `make run` used the well-known key `gatehouse-dev-key`, which any web page reaching the gateway (DNS
// rebinding) could send. Now its key, unless PURUTO_GATEWAY_API_KEY is given, is the data folder's own random one
// (deploy/dev-api-key.sh), printed in the banner's `export API_KEY=…` line that the README's curl lines read.
// `make run` itself is started here, as a person starts it (install and console build marked done).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const work = mkdtempSync(join(tmpdir(), "gatehouse-make-run-"));
const started: ChildProcess[] = [];

afterAll(() => {
  for (const child of started) stop(child, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

/** The whole process group make leads (make, the gateway, its runtime): they were started detached, for this. */
function stop(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

interface Running {
  url: string;
  /** What the banner's `export API_KEY=…` line says. */
  key: string;
  stop(): Promise<void>;
}

/** `make run` on `dataDir`, once its banner is out. */
async function makeRun(dataDir: string, env: Record<string, string> = {}): Promise<Running> {
  const make = spawn(
    "make",
    ["--no-print-directory", "-o", "node_modules/.installed", "-o", "console/dist/app.js", "run"],
    {
      cwd: ROOT,
      detached: true,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: "0",
        AGENT_RUNTIME_PORT: "0",
        LOG_LEVEL: "warn",
        GATEHOUSE_DATA_DIR: dataDir,
        ...env,
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  started.push(make);
  let stderr = "";
  const banner = await new Promise<RegExpExecArray>((ok, fail) => {
    make.stderr!.on("data", (d) => {
      stderr += d;
      const match = /Gatehouse (http:\/\/\S+) [\s\S]*export API_KEY=(\S+) ORG_ID=/.exec(stderr);
      if (match) ok(match);
    });
    make.once("exit", (code) => fail(new Error(`make run exited (${code}) before listening: ${stderr}`)));
  });
  const stopped = new Promise((ok) => make.once("exit", ok));
  return {
    url: banner[1]!,
    key: banner[2]!,
    stop: async () => {
      stop(make, "SIGTERM");
      await stopped;
    },
  };
}

describe("make run's API key", () => {
  it("is the data folder's own random key, printed in the banner, working, and the same after a restart", async () => {
    const data = join(work, "data");
    const first = await makeRun(data);
    expect(first.key).not.toBe("gatehouse-dev-key");
    expect(first.key).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(readFileSync(join(data, "dev-api-key"), "utf8")).toBe(first.key);
    expect(statSync(join(data, "dev-api-key")).mode & 0o777).toBe(0o600);
    // The README's curl line, as printed.
    const listed = await fetch(`${first.url}/purutos`, { headers: { "X-API-Key": first.key } });
    expect(listed.status).toBe(200);
    expect((await fetch(`${first.url}/purutos`, { headers: { "X-API-Key": "gatehouse-dev-key" } })).status).toBe(401);
    await first.stop();

    const again = await makeRun(data);
    expect(again.key).toBe(first.key);
    await again.stop();
  }, 180_000);

  it("is another one in another data folder, and PURUTO_GATEWAY_API_KEY still wins", async () => {
    const other = await makeRun(join(work, "other"));
    expect(other.key).not.toBe(readFileSync(join(work, "data", "dev-api-key"), "utf8"));
    await other.stop();
    const given = await makeRun(join(work, "given"), { PURUTO_GATEWAY_API_KEY: "my-own-key-123" });
    expect(given.key).toBe("my-own-key-123");
    await given.stop();
  }, 180_000);
});
