// A/B of the execute lines across checkouts, alternated (A, B, A, B …) so a shared machine's drift hits both:
// per round and checkout, the PostgreSQL execute line and the SQLite execute line, each in a fresh target of that
// checkout, loaded back to back; prints gateway CPU µs per request and req/s, then the medians.
//   npx tsx bench/ab-execute.ts [rounds=3] [seconds=5] checkout…   (BENCH_TOOL=wrk to load with wrk)
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import pg from "pg";
import { resolve } from "node:path";
import { benchLines } from "./lines";
import { API_KEY, targetEnv } from "./target-control";
import { autocannonLoad, warmUp, wrkLoad } from "./load";
import type { LoadStats } from "./target-stats";

const [roundsArg = "3", secondsArg = "5", ...paths] = process.argv.slice(2);
const checkouts = (paths.length ? paths : ["."]).map((p) => resolve(p));
const pgLine = benchLines.find((l) => l.key === "execute-pg")!;
const sqliteLine = benchLines.find((l) => l.key === "execute")!;

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
  const tick = 10; // ms per clock tick (USER_HZ 100)
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * tick);
    } catch {}
  }
  return cpu;
}

async function measure(root: string, line: typeof pgLine) {
  const env = (await line.prepare?.()) ?? {};
  const child = fork(resolve(root, "bench/targets.ts"), ["gatehouse", "0"], {
    cwd: root,
    execArgv: ["--import", "tsx"],
    env: targetEnv(env),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const { port } = await reply(child);
    const url = `http://127.0.0.1:${port}${line.path}`;
    const request = line.request!(API_KEY);
    await warmUp(url, request);
    const before = await backendCpu(env.DATABASE_URL);
    await reply(child, { cmd: "stats-start" });
    const opts = { connections: 64, seconds: Number(secondsArg) };
    const result =
      process.env.BENCH_TOOL === "wrk" ? await wrkLoad(url, request, opts) : await autocannonLoad(url, request, opts);
    const { stats } = await reply(child, { cmd: "stats-stop" });
    const after = await backendCpu(env.DATABASE_URL);
    let pgMs = 0;
    for (const [pid, ms] of after) pgMs += ms - (before.get(pid) ?? 0);
    return {
      rps: result.rps,
      cpuUs: (stats.cpuMs * 1000) / result.requests,
      pgUs: (pgMs * 1000) / result.requests,
      errors: result.errors,
    };
  } finally {
    child.kill();
    await line.cleanup?.();
  }
}

const results = new Map<string, { pg: number[]; pgCpu: number[]; pgDb: number[]; sq: number[]; sqCpu: number[] }>();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (let r = 0; r < Number(roundsArg); r++) {
  for (const root of r % 2 ? [...checkouts].reverse() : checkouts) {
    const pg = await measure(root, pgLine);
    const sq = await measure(root, sqliteLine);
    const entry = results.get(root) ?? { pg: [], pgCpu: [], pgDb: [], sq: [], sqCpu: [] };
    entry.pg.push(pg.rps);
    entry.pgCpu.push(pg.cpuUs);
    entry.pgDb.push(pg.pgUs);
    entry.sq.push(sq.rps);
    entry.sqCpu.push(sq.cpuUs);
    results.set(root, entry);
    console.log(
      `round ${r + 1} ${root}: PG ${Math.round(pg.rps)} req/s ${Math.round(pg.cpuUs)} µs + PostgreSQL ${Math.round(pg.pgUs)} µs (err ${pg.errors}) | SQLite ${Math.round(sq.rps)} req/s ${Math.round(sq.cpuUs)} µs | ratio ${(pg.rps / sq.rps).toFixed(2)}`,
    );
  }
}
for (const [root, e] of results)
  console.log(
    `median ${root}: PG ${Math.round(median(e.pg))} req/s ${Math.round(median(e.pgCpu))} µs + PostgreSQL ${Math.round(median(e.pgDb))} µs | SQLite ${Math.round(median(e.sq))} req/s ${Math.round(median(e.sqCpu))} µs | ratio of medians ${(median(e.pg) / median(e.sq)).toFixed(2)}, median of ratios ${median(e.pg.map((p, i) => p / e.sq[i]!)).toFixed(2)}`,
  );
