// `make bench`: Gatehouse against a bare node:http hello server and a bare Koa hello server, in the same run,
// on loopback. Prints req/s, p50/p99 latency and the ratio of each Gatehouse line to each baseline.
// Faces add lines to LINES. BENCH_SECONDS / BENCH_CONNECTIONS tune the load; BENCH_ONLY=<substring> runs
// only the matching Gatehouse lines. A line with a large response
// can ask for a same-bytes reference: a bare node:http server answering exactly those bytes, and the ratio to it.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import { haproxyForTests } from "../contract-tests/cluster/haproxy";
import { benchLines, type BenchLine } from "./lines";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const API_KEY = "bench-api-key-123";
/** Only the Gatehouse lines whose name contains this (the baselines always run). */
const ONLY = process.env.BENCH_ONLY;

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** For a same-bytes reference line: the Gatehouse line it is compared with. */
  reference?: Result;
}

const BENCH_RATE_LIMITS = {
  GATEHOUSE_RATE_LIMIT_PER_API_KEY: "1000000000",
  GATEHOUSE_RATE_LIMIT_PER_AGENT: "1000000000",
};

async function startTarget(kind: string, port: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = fork(resolve(import.meta.dirname, "targets.ts"), [kind, String(port)], {
    execArgv: ["--import", "tsx"],
    // Rate limits stay on (their cost is measured) with quotas no benchmark reaches.
    env: { ...process.env, PURUTO_GATEWAY_API_KEY: API_KEY, LOG_LEVEL: "silent", ...BENCH_RATE_LIMITS, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((ok, fail) => {
    child.once("message", () => ok());
    child.once("exit", (code) => fail(new Error(`${kind} exited with ${code}`)));
  });
  return child;
}

async function load(
  name: string,
  url: string,
  opts: Partial<autocannon.Options> = {},
  expectStatus?: number,
): Promise<Result> {
  await autocannon({ url, connections: 8, duration: 1, ...opts }); // warm-up
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, ...opts });
  const byClass = r as unknown as Record<"1xx" | "2xx" | "3xx" | "4xx" | "5xx", number>;
  const answered = byClass["1xx"] + byClass["2xx"] + byClass["3xx"] + byClass["4xx"] + byClass["5xx"];
  const unexpected = expectStatus ? answered - byClass[`${Math.floor(expectStatus / 100)}xx` as "2xx"] : r.non2xx;
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + unexpected };
}

/** The bytes (and type) one request of the line gets, to be served by the `bytes` target. */
async function captureResponse(url: string, opts: Partial<autocannon.Options>): Promise<Record<string, string>> {
  const headers = opts.headers as Record<string, string> | undefined;
  const body = opts.body as string | undefined;
  const res = await fetch(url, {
    method: opts.method ?? "GET",
    ...(headers ? { headers } : {}),
    ...(body === undefined ? {} : { body }),
  });
  const file = join(mkdtempSync(join(tmpdir(), "gatehouse-bench-bytes-")), "body");
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return { BENCH_BYTES_FILE: file, BENCH_BYTES_TYPE: res.headers.get("content-type") ?? "application/octet-stream" };
}

function print(results: Result[], baselines: Result[]): void {
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`\n${pad("target", 56)} ${pad("req/s", 9)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} errors  ratios`);
  for (const r of results) {
    const ratios = r.reference
      ? `${(r.rps / r.reference.rps).toFixed(2)}× ${r.reference.name}`
      : baselines
          .filter((b) => b !== r)
          .map((b) => `${(r.rps / b.rps).toFixed(2)}× ${b.name}`)
          .join(", ");
    console.log(
      `${pad(r.name, 56)} ${pad(r.rps.toFixed(0), 9)} ${pad(String(r.p50), 7)} ${pad(String(r.p99), 7)} ${pad(String(r.errors), 7)} ${baselines.includes(r) ? "(baseline)" : ratios}`,
    );
  }
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  try {
    children.push(await startTarget("node", 18081), await startTarget("koa", 18082));
    const baselines = [
      await load("node:http hello", "http://127.0.0.1:18081/"),
      await load("koa hello", "http://127.0.0.1:18082/"),
    ];
    const results: Result[] = [...baselines];
    let port = 18090;
    for (const line of benchLines.filter((l) => !ONLY || l.name.includes(ONLY))) {
      const missing = await line.unavailable?.();
      if (missing) {
        console.log(`${line.name}: skipped (${missing})`);
        continue;
      }
      const env = line.prepare ? await line.prepare() : {};
      const child = await startTarget("gatehouse", ++port, env);
      children.push(child);
      let base = `http://127.0.0.1:${port}`;
      let stopBalancer: (() => Promise<void>) | undefined;
      if (line.twoNodesViaHaproxy) {
        const second = await startTarget("gatehouse", ++port, env);
        children.push(second);
        const haproxy = await haproxyForTests(line.name);
        if (!haproxy) {
          console.log(`${line.name}: skipped (HAProxy is not installed)`);
          child.kill();
          second.kill();
          await line.cleanup?.();
          continue;
        }
        const balancer = await haproxy.start({ nodes: [`127.0.0.1:${port - 1}`, `127.0.0.1:${port}`], port: ++port });
        base = balancer.url;
        stopBalancer = async () => {
          await balancer.stop();
          second.kill();
        };
      }
      if (line.setup) await line.setup(base, API_KEY);
      const request = line.request?.(API_KEY) ?? {};
      const result = await load(line.name, base + line.path, request, line.expectStatus);
      results.push(result);
      const compared = line.compareTo ? results.find((r) => r.name === line.compareTo) : undefined;
      if (compared)
        results.push({ ...result, name: `  → vs ${line.compareTo!.replace("gatehouse ", "")}`, reference: compared });
      const bytes = line.sameBytesReference ? await captureResponse(base + line.path, request) : undefined;
      await stopBalancer?.();
      child.kill();
      await line.cleanup?.();
      if (bytes) {
        const reference = await startTarget("bytes", ++port, bytes);
        children.push(reference);
        const same = await load("  bare node:http, same response bytes", `http://127.0.0.1:${port}/`);
        results.push(same, { ...result, name: "  → gatehouse vs the same bytes", reference: same });
        reference.kill();
      }
    }
    print(results, baselines);
  } finally {
    for (const c of children) c.kill();
  }
}

export type { BenchLine };
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
