// The load generators of `make bench`: autocannon (in this Node process) and wrk (a C program, when installed:
// its own CPU cost is far lower, so on a 2-core machine it hides less of the server's). Both report the same shape.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";

export type Tool = "autocannon" | "wrk";

export interface LoadResult {
  tool: Tool;
  rps: number;
  /** Requests answered during the load. */
  requests: number;
  /** Latency percentiles in ms. */
  p50: number;
  p99: number;
  p999: number;
  /** Socket errors, timeouts and answers with an unexpected status. */
  errors: number;
}

export interface LoadOptions {
  seconds: number;
  connections: number;
  /** The status every answer must have (default: any 2xx). */
  expectStatus?: number | undefined;
}

/** A request as autocannon takes it; wrk gets method, headers and body (not per-request `requests` hooks). */
export type LoadRequest = Partial<autocannon.Options>;

/** A short low-concurrency run, so the JIT and the caches are warm before anything is measured. */
export async function warmUp(url: string, request: LoadRequest): Promise<void> {
  await autocannon({ url, connections: 8, duration: 1, ...request });
}

export async function autocannonLoad(url: string, request: LoadRequest, opts: LoadOptions): Promise<LoadResult> {
  const r = await autocannon({ url, connections: opts.connections, duration: opts.seconds, ...request });
  const byClass = r as unknown as Record<"1xx" | "2xx" | "3xx" | "4xx" | "5xx", number>;
  const answered = byClass["1xx"] + byClass["2xx"] + byClass["3xx"] + byClass["4xx"] + byClass["5xx"];
  const expected = opts.expectStatus ? byClass[`${Math.floor(opts.expectStatus / 100)}xx` as "2xx"] : byClass["2xx"];
  return {
    tool: "autocannon",
    rps: r.requests.average,
    requests: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    p999: r.latency.p99_9,
    errors: r.errors + r.timeouts + (answered - expected),
  };
}

let wrkState: { path?: string; why?: string } | undefined;

/**
 * wrk's path, installing the Debian package when it is missing and this process may (root with apt-get);
 * otherwise why it is skipped. Asked once per run. BENCH_WRK=0 turns wrk off.
 */
export function findWrk(): { path?: string; why?: string } {
  wrkState ??= locateWrk();
  return wrkState;
}

function locateWrk(): { path?: string; why?: string } {
  if (process.env.BENCH_WRK === "0") return { why: "BENCH_WRK=0" };
  const which = () => spawnSync("sh", ["-c", "command -v wrk"], { encoding: "utf8" }).stdout.trim();
  const found = which();
  if (found) return { path: found };
  if (process.getuid?.() !== 0) return { why: "wrk is not installed and this is not root (apt-get install wrk)" };
  if (spawnSync("sh", ["-c", "command -v apt-get"]).status !== 0) return { why: "wrk is not installed, no apt-get" };
  console.log("wrk is missing: apt-get install -y wrk …");
  const aptGet = (...args: string[]) =>
    spawnSync("apt-get", args, {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 180_000,
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  let install = aptGet("install", "-y", "-q", "wrk");
  // A fresh image has no package lists yet.
  if (install.status !== 0 && aptGet("update", "-q").status === 0) install = aptGet("install", "-y", "-q", "wrk");
  const installed = which();
  return installed ? { path: installed } : { why: `wrk could not be installed (apt-get exit ${install.status})` };
}

/**
 * wrk's threads: one core less than the machine has (BENCH_WRK_THREADS overrides). The target's event loop needs a
 * core of its own: on this 2-core machine two wrk threads beside it made a wrk thread wait for a core, and that wait
 * counted in the latency wrk reports. Measured on evaluate, quiet machine, 64 connections, two runs each: `-t 2` 9.5k
 * and 8.8k req/s with p99 150 and 35 ms, `-t 1` 9.6k and 9.1k req/s with p99 11.8 and 9.8 ms, while the server itself
 * held no request longer than 0.3 ms (srv99); Koa hello 28.7k / 28.2k req/s with `-t 2`, 29.0k / 30.0k with `-t 1`:
 * one thread saturates the baselines as well, so no ratio is flattered.
 */
export function wrkThreads(): number {
  const asked = Number(process.env.BENCH_WRK_THREADS);
  return Number.isInteger(asked) && asked > 0 ? asked : Math.max(1, availableParallelism() - 1);
}

/** A Lua long string that no body can close early. */
function luaString(text: string): string {
  let level = "";
  while (text.includes(`]${level}]`)) level += "=";
  return `[${level}[${text}]${level}]`;
}

/**
 * wrk's script: the request (method, headers, body) and a done() that prints one line with the numbers this
 * bench reads (latency in µs, p99.9 included, which `--latency` does not print).
 */
function wrkScript(request: LoadRequest): string {
  const lines = [`wrk.method = ${luaString(request.method ?? "GET")}`];
  for (const [name, value] of Object.entries((request.headers ?? {}) as Record<string, string>))
    lines.push(`wrk.headers[ ${luaString(name)} ] = ${luaString(value)}`);
  if (typeof request.body === "string") lines.push(`wrk.body = ${luaString(request.body)}`);
  lines.push(
    "done = function(summary, latency, requests)",
    "  local e = summary.errors",
    '  io.write(string.format("BENCH-WRK %d %d %d %d %d %d\\n", summary.requests, summary.duration,',
    "    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),",
    "    e.connect + e.read + e.write + e.timeout + e.status))",
    "end",
    "",
  );
  return lines.join("\n");
}

export async function wrkLoad(url: string, request: LoadRequest, opts: LoadOptions): Promise<LoadResult> {
  const wrk = findWrk().path;
  if (!wrk) throw new Error("wrk is not available");
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-wrk-"));
  const script = join(dir, "request.lua");
  writeFileSync(script, wrkScript(request));
  const threads = String(wrkThreads());
  const args = ["-t", threads, "-c", String(opts.connections), "-d", `${opts.seconds}s`];
  try {
    return parseWrk(await run(wrk, [...args, "--timeout", "10s", "--latency", "-s", script, url]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once("error", fail);
    child.once("exit", (code) => (code === 0 ? ok(out) : fail(new Error(`wrk exited with ${code}: ${out}`))));
  });
}

/** The done() line; without it (an old wrk), the `--latency` distribution and the Requests/sec line. */
export function parseWrk(output: string): LoadResult {
  const ours = /^BENCH-WRK (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/m.exec(output);
  if (ours) {
    const [requests, durationUs, p50, p99, p999, errors] = ours.slice(1).map(Number) as number[];
    return {
      tool: "wrk",
      rps: requests! / (durationUs! / 1e6),
      requests: requests!,
      p50: p50! / 1000,
      p99: p99! / 1000,
      p999: p999! / 1000,
      errors: errors!,
    };
  }
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  if (!rps) throw new Error(`unreadable wrk output: ${output}`);
  const percentile = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(output);
    if (!m) return Number.NaN;
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]!]!;
  };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const total = /(\d+) requests in/.exec(output);
  return {
    tool: "wrk",
    rps: Number(rps[1]),
    requests: Number(total?.[1] ?? Number.NaN),
    p50: percentile("50"),
    p99: percentile("99"),
    p999: Number.NaN,
    errors: (errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0) + Number(non2xx?.[1] ?? 0),
  };
}
