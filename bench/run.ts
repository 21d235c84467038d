// `make bench`: Gatehouse against a bare node:http hello server and a bare Koa hello server, in the same run,
// on loopback. Prints req/s, p50/p99 latency and the ratio of each Gatehouse line to each baseline.
// Faces add lines to LINES. BENCH_SECONDS / BENCH_CONNECTIONS tune the load.
import { fork, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import autocannon from "autocannon";
import { benchLines, type BenchLine } from "./lines";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const API_KEY = "bench-api-key-123";

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function startTarget(kind: string, port: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = fork(resolve(import.meta.dirname, "targets.ts"), [kind, String(port)], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, PURUTO_GATEWAY_API_KEY: API_KEY, LOG_LEVEL: "silent", ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((ok, fail) => {
    child.once("message", () => ok());
    child.once("exit", (code) => fail(new Error(`${kind} exited with ${code}`)));
  });
  return child;
}

async function load(name: string, url: string, opts: Partial<autocannon.Options> = {}): Promise<Result> {
  await autocannon({ url, connections: 8, duration: 1, ...opts }); // warm-up
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, ...opts });
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

function print(results: Result[], baselines: Result[]): void {
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`\n${pad("target", 46)} ${pad("req/s", 9)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} errors  ratios`);
  for (const r of results) {
    const ratios = baselines
      .filter((b) => b !== r)
      .map((b) => `${(r.rps / b.rps).toFixed(2)}× ${b.name}`)
      .join(", ");
    console.log(
      `${pad(r.name, 46)} ${pad(r.rps.toFixed(0), 9)} ${pad(String(r.p50), 7)} ${pad(String(r.p99), 7)} ${pad(String(r.errors), 7)} ${baselines.includes(r) ? "(baseline)" : ratios}`,
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
    for (const line of benchLines) {
      const env = line.prepare ? await line.prepare() : {};
      const child = await startTarget("gatehouse", ++port, env);
      children.push(child);
      const base = `http://127.0.0.1:${port}`;
      if (line.setup) await line.setup(base, API_KEY);
      results.push(await load(line.name, base + line.path, line.request?.(API_KEY) ?? {}));
      child.kill();
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
