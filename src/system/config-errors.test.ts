// Start-up with a bad configuration, as an operator meets it: the real entry point (src/main.ts) in its own
// process. Each mistake ends quickly with exit code 2 and one line naming the variable to fix — never a stack
// trace, never a hang — including a value that only comes from a `.env` file in the working directory.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
const MAIN = join(ROOT, "src/main.ts");
/** The `gatehouse` command (`npm run gatehouse -- serve`), whose `serve` starts the same server. */
const CLI_SERVE = [join(ROOT, "src/cli/main.ts"), "serve"];

let work: string;
let taken: Server;
let takenPort: number;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "gatehouse-config-errors-"));
  taken = createServer();
  await new Promise<void>((ok) => taken.listen(0, "127.0.0.1", ok));
  takenPort = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((ok) => taken.close(() => ok()));
  rmSync(work, { recursive: true, force: true });
});

/** Runs src/main.ts until it exits (it must, within 80 s); stdout is piped, so logs are JSON lines. */
function start(
  env: Record<string, string>,
  cwd = ROOT,
  entry = [MAIN],
): Promise<{ code: number | null; stderr: string; ms: number }> {
  const began = Date.now();
  const child = spawn(process.execPath, ["--import", TSX, ...entry], {
    cwd,
    env: { PATH: process.env.PATH, PORT: "0", GATEHOUSE_DATA_DIR: join(work, "data"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 80_000);
  return new Promise((ok) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      ok({ code, stderr, ms: Date.now() - began });
    }),
  );
}

/** The operator sees one line naming the variable, and no stack trace. */
function expectNamed(result: { code: number | null; stderr: string }, line: RegExp) {
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(line);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

describe("a bad configuration stops start-up with a line naming the variable", () => {
  it("LOG_LEVEL=verbose", async () => {
    expectNamed(await start({ LOG_LEVEL: "verbose" }), /^Invalid configuration: LOG_LEVEL must be one of fatal, /m);
  }, 100_000);

  it("a bad value read from .env in the working directory", async () => {
    const dir = mkdtempSync(join(work, "dotenv-"));
    writeFileSync(join(dir, ".env"), "GATEHOUSE_MAX_BODY_BYTES=1MB\n");
    expectNamed(await start({}, dir), /^Invalid configuration: GATEHOUSE_MAX_BODY_BYTES must be an integer/m);
  }, 100_000);

  it("PORT already taken", async () => {
    expectNamed(
      await start({ PORT: String(takenPort), HOST: "127.0.0.1" }),
      /^Invalid configuration: PORT names a port that is already in use/m,
    );
  }, 100_000);

  it("PORT already taken, started by the gatehouse command's serve (it exited 1 with a generic prefix)", async () => {
    expectNamed(
      await start({ PORT: String(takenPort), HOST: "127.0.0.1" }, ROOT, CLI_SERVE),
      /^Invalid configuration: PORT names a port that is already in use/m,
    );
  }, 100_000);

  it("PURUTO_GATEWAY_PORT (the seeds' name) already taken names the variable as it was set", async () => {
    expectNamed(
      await start({ PORT: "", PURUTO_GATEWAY_PORT: String(takenPort), HOST: "127.0.0.1" }),
      /^Invalid configuration: PURUTO_GATEWAY_PORT names a port that is already in use/m,
    );
  }, 100_000);

  it("HOST naming an address this machine does not have (or no address at all)", async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address.
    expectNamed(
      await start({ HOST: "192.0.2.1" }),
      /^Invalid configuration: HOST names an address this machine cannot listen on \(192\.0\.2\.1: EADDRNOTAVAIL\)/m,
    );
    expectNamed(
      await start({ PURUTO_GATEWAY_HOST: "no-such-host.invalid" }),
      /^Invalid configuration: PURUTO_GATEWAY_HOST names an address this machine cannot listen on/m,
    );
  }, 180_000);

  it("AGENT_RUNTIME_PORT already taken (embedded reference runtime)", async () => {
    expectNamed(
      await start({ GATEHOUSE_EMBEDDED_RUNTIME: "1", AGENT_RUNTIME_PORT: String(takenPort) }),
      /^Invalid configuration: AGENT_RUNTIME_PORT names a port that is already in use/m,
    );
  }, 100_000);

  it("a second Gatehouse on a GATEHOUSE_DB another one uses, with a data folder of its own", async () => {
    // Two processes on one SQLite file each kept their own view of it: a manifest suspended through one was
    // still allowed by the other. Several nodes share PostgreSQL (DATABASE_URL), never a SQLite file.
    const shared = { GATEHOUSE_DB: join(work, "shared.sqlite") };
    const first = spawn(process.execPath, ["--import", TSX, MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, PORT: "0", GATEHOUSE_DATA_DIR: join(work, "data-first"), ...shared },
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      await new Promise<void>((ok) => first.stdout.on("data", (d) => String(d).includes('"listening"') && ok()));
      expectNamed(
        await start({ GATEHOUSE_DATA_DIR: join(work, "data-second"), ...shared }),
        new RegExp(`^Another Gatehouse \\(PID ${first.pid}\\) is using the database file .*shared\\.sqlite`, "m"),
      );
    } finally {
      first.kill("SIGKILL");
    }
  }, 180_000);

  it("an unwritable data folder fails at once instead of hanging", async () => {
    const file = join(work, "a-file");
    writeFileSync(file, "");
    const result = await start({ GATEHOUSE_DATA_DIR: join(file, "data") });
    expectNamed(result, /^Invalid configuration: GATEHOUSE_DATA_DIR must name a writable folder/m);
    const proc = await start({ GATEHOUSE_DATA_DIR: "/proc/gatehouse-data" });
    expectNamed(proc, /GATEHOUSE_DATA_DIR must name a writable folder/);
    expect(proc.ms).toBeLessThan(30_000);
  }, 180_000);
});
