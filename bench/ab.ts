// A/B of bench lines across checkouts, alternated (A, B, A, B …) so a shared machine's drift hits both: per
// round and checkout, each line (BENCH_AB_LINES, keys of ./lines.ts, default "execute-pg,execute") in a fresh
// target of that checkout, loaded back to back; prints gateway CPU µs per request and req/s, then the medians
// (for PostgreSQL also the CPU of its backends per request); each round also names the share of the machine its
// hypervisor took (steal).
//   npx tsx bench/ab.ts [rounds=3] [seconds=5] checkout…   (BENCH_TOOL=wrk to load with wrk)
//   BENCH_AB_LINES=evaluate,health npx tsx bench/ab.ts 5 5 . ../other-checkout
import { fork, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import pg from "pg";
import { resolve } from "node:path";
import { type BenchLine, benchLines } from "./lines";
import { API_KEY, cpuMsOf, machineTicks, stolenPercent, targetEnv } from "./target-control";
import { targetsBundle } from "./bundle";
import { autocannonLoad, warmUp, wrkLoad } from "./load";
import type { LoadStats } from "./target-stats";

const [roundsArg = "3", secondsArg = "5", ...paths] = process.argv.slice(2);
const checkouts = (paths.length ? paths : ["."]).map((p) => resolve(p));
const lines = (process.env.BENCH_AB_LINES ?? "execute-pg,execute").split(",").map((key) => {
  const line = benchLines.find((l) => l.key === key);
  if (!line)
    throw new Error(`no bench line has the key "${key}": ${benchLines.flatMap((l) => l.key ?? []).join(", ")}`);
  return line;
});

type Reply = { port: number; stats: LoadStats };

function reply(child: ReturnType<typeof fork>, message?: object): Promise<Reply> {
  return new Promise((ok, fail) => {
    const onExit = (code: number | null) => fail(new Error(`target exited ${code}`));
    child.once("exit", onExit);
    child.once("message", (m) => {
      child.off("exit", onExit);
      ok(m as Reply);
    });
    if (message) child.send(message);
  });
}

/** CPU ms (user + system) of the PostgreSQL backends serving database `name`, by pid. */
async function backendCpu(url: string | undefined): Promise<Map<number, number>> {
  const cpu = new Map<number, number>();
  if (!url) return cpu;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
  );
  await client.end();
  for (const { pid } of rows) {
    const ms = cpuMsOf(pid);
    if (ms !== undefined) cpu.set(pid, ms);
  }
  return cpu;
}

/**
 * How a checkout's targets start: from its own production-like bundle (./bundle.ts, built here from that
 * checkout's sources), or under tsx for a checkout older than the bundle.
 */
function targetsOf(root: string): { script: string; execArgv: string[] } {
  if (!existsSync(resolve(root, "bench/bundle.ts")))
    return { script: resolve(root, "bench/targets.ts"), execArgv: ["--import", "tsx"] };
  const built = spawnSync(resolve(root, "node_modules/.bin/tsx"), ["bench/bundle.ts"], { cwd: root, stdio: "inherit" });
  if (built.status !== 0) throw new Error(`bench/bundle.ts failed in ${root}`);
  return { script: targetsBundle(root), execArgv: [] };
}

async function measure(root: string, line: BenchLine) {
  const env = (await line.prepare?.()) ?? {};
  const { script, execArgv } = targets.get(root)!;
  const child = fork(script, ["gatehouse", "0"], {
    cwd: root,
    execArgv,
    env: targetEnv(env),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const { port } = await reply(child);
    // What the line needs before it is loaded (the MCP line's session), as `make bench` does it.
    await line.setup?.(`http://127.0.0.1:${port}`, API_KEY);
    const url = `http://127.0.0.1:${port}${line.path}`;
    const request = line.request?.(API_KEY) ?? {};
    await warmUp(url, request);
    const before = await backendCpu(env.DATABASE_URL);
    await reply(child, { cmd: "stats-start" });
    const opts = { connections: 64, seconds: Number(secondsArg) };
    const machineBefore = machineTicks();
    const result =
      process.env.BENCH_TOOL === "wrk" ? await wrkLoad(url, request, opts) : await autocannonLoad(url, request, opts);
    const steal = stolenPercent(machineBefore, machineTicks());
    const { stats } = await reply(child, { cmd: "stats-stop" });
    const after = await backendCpu(env.DATABASE_URL);
    let pgMs = 0;
    for (const [pid, ms] of after) pgMs += ms - (before.get(pid) ?? 0);
    return {
      rps: result.rps,
      cpuUs: (stats.cpuMs * 1000) / result.requests,
      pgUs: (pgMs * 1000) / result.requests,
      errors: result.errors,
      steal,
    };
  } finally {
    child.kill();
    await line.cleanup?.();
  }
}

const targets = new Map(checkouts.map((root) => [root, targetsOf(root)]));
const results = new Map<string, Map<string, { rps: number[]; cpu: number[]; db: number[] }>>();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x);
for (let r = 0; r < Number(roundsArg); r++) {
  for (const root of r % 2 ? [...checkouts].reverse() : checkouts) {
    const parts: string[] = [];
    for (const line of lines) {
      const m = await measure(root, line);
      const byLine = results.get(root) ?? new Map();
      const entry = byLine.get(line.key!) ?? { rps: [], cpu: [], db: [] };
      entry.rps.push(m.rps);
      entry.cpu.push(m.cpuUs);
      entry.db.push(m.pgUs);
      byLine.set(line.key!, entry);
      results.set(root, byLine);
      const db = line.key === "execute-pg" ? ` + PostgreSQL ${round(m.pgUs)} µs` : "";
      const steal = m.steal === undefined ? "" : `, steal ${round(m.steal)} %`;
      parts.push(`${line.key} ${round(m.rps)} req/s ${round(m.cpuUs)} µs${db} (err ${m.errors}${steal})`);
    }
    console.log(`round ${r + 1} ${root}: ${parts.join(" | ")}`);
  }
}
for (const [root, byLine] of results) {
  const parts = [...byLine].map(([key, e]) => {
    const db = key === "execute-pg" ? ` + PostgreSQL ${round(median(e.db))} µs` : "";
    return `${key} ${round(median(e.rps))} req/s ${round(median(e.cpu))} µs${db}`;
  });
  console.log(`median ${root}: ${parts.join(" | ")}`);
}
