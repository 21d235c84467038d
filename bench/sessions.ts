// Agent sessions bench (`npx tsx bench/sessions.ts`): what the WebSocket relay costs.
//  1. Added latency: N sequential round trips of an echo-like exchange (switch_agent → agent_switched) with
//     the reference runtime directly, then through Gatehouse (IDE → Gatehouse → runtime → Gatehouse → IDE);
//     p50/p99 of both and the difference. Goal: p50 ≤ 1 ms, p99 ≤ 5 ms added.
//  2. Memory: RSS of the Gatehouse process per idle authenticated session, at BENCH_WS_SESSIONS (10,000)
//     open sockets (opened in batches; RSS delta / n after a full GC). Goal ≤ 16 KiB.
// Gatehouse and the runtime run in child processes. Each process needs ~n+200 file descriptors: the script
// re-executes itself under `ulimit -n <hard limit>` when the soft limit is lower (or set it yourself).
// BENCH_WS_ROUND_TRIPS (default 2000), BENCH_WS_SESSIONS (default 10000) tune it.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import WebSocket from "ws";

const ROUND_TRIPS = Number(process.env.BENCH_WS_ROUND_TRIPS ?? 2000);
const SESSIONS = Number(process.env.BENCH_WS_SESSIONS ?? 10_000);
const BATCH = 500;
const SERVER_SCRIPT = resolve(import.meta.dirname, "sessions-server.ts");

function fdLimits(): { soft: number; hard: number } {
  const read = (flag: string) =>
    Number(spawnSync("sh", ["-c", `ulimit ${flag}`], { encoding: "utf8" }).stdout.trim()) || Infinity;
  return { soft: read("-Sn"), hard: read("-Hn") };
}

/** Re-runs this script with the soft fd limit raised to the hard one, when that is needed and possible. */
function ensureFdLimit(): void {
  const needed = SESSIONS + 500;
  const { soft, hard } = fdLimits();
  if (soft >= needed || process.env.BENCH_FD_RAISED) return;
  if (hard < needed) {
    console.error(
      `ulimit -n is ${soft} (hard ${hard}); ${needed} descriptors per process are needed. Lower BENCH_WS_SESSIONS or raise the hard limit.`,
    );
    process.exit(1);
  }
  const args = [...process.execArgv, ...process.argv.slice(1)].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const run = spawnSync("sh", ["-c", `ulimit -n ${hard} && exec '${process.execPath}' ${args}`], {
    stdio: "inherit",
    env: { ...process.env, BENCH_FD_RAISED: "1" },
  });
  process.exit(run.status ?? 1);
}

async function startChild(
  mode: "runtime" | "gatehouse",
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; ready: Record<string, string | undefined> }> {
  // Through sh so the child gets the raised fd limit too; the IPC channel survives the exec.
  const command = `ulimit -n $(ulimit -Hn) 2>/dev/null; exec '${process.execPath}' --expose-gc --import tsx '${SERVER_SCRIPT}' ${mode}`;
  const child = spawn("sh", ["-c", command], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
  });
  const ready = await new Promise<Record<string, string>>((ok, fail) => {
    child.once("message", (m) => ok(m as Record<string, string>));
    child.once("exit", (code) => fail(new Error(`${mode} exited with ${code}`)));
  });
  return { child, ready };
}

function ask<T>(child: ChildProcess, message: unknown): Promise<T> {
  return new Promise((ok) => {
    child.once("message", (m) => ok(m as T));
    child.send(message as object);
  });
}

function open(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once("open", () => ok(ws));
    ws.once("unexpected-response", (_req, res) => fail(new Error(`HTTP ${res.statusCode} for ${url}`)));
    ws.once("error", fail);
  });
}

/** Sequential round trips: send switch_agent, wait for agent_switched. Returns latencies in ms. */
async function roundTrips(ws: WebSocket, n: number): Promise<number[]> {
  const latencies: number[] = [];
  let resolveNext: (() => void) | undefined;
  ws.on("message", (data) => {
    if ((JSON.parse(data.toString()) as { type: string }).type === "agent_switched") resolveNext?.();
  });
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint();
    await new Promise<void>((ok) => {
      resolveNext = ok;
      ws.send(JSON.stringify({ type: "switch_agent", agent: i % 2 ? "coder" : "reviewer" }));
    });
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return latencies;
}

/** A field of a child's ready message; a child that did not send it is a broken bench, not a number to report. */
function readyField(ready: Record<string, string | undefined>, field: string): string {
  const value = ready[field];
  if (value === undefined) throw new Error(`child's ready message has no "${field}"`);
  return value;
}

function percentile(sorted: number[], p: number): number {
  // NaN for no samples (the summary line then says so) instead of a crash.
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

const ms = (v: number) => `${v.toFixed(3)} ms`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

async function main() {
  ensureFdLimit();
  const runtime = await startChild("runtime");
  const runtimeUrl = readyField(runtime.ready, "url");
  const gatehouse = await startChild("gatehouse", { BENCH_RUNTIME_URL: runtimeUrl });
  const gatehouseUrl = readyField(gatehouse.ready, "url");
  const token = readyField(gatehouse.ready, "token");
  const wsBase = gatehouseUrl.replace(/^http/, "ws");
  const auth = { authorization: `Bearer ${token}` };
  try {
    // 1. latency
    const warmup = Math.min(200, ROUND_TRIPS);
    const direct = await open(`${runtimeUrl.replace(/^http/, "ws")}/runtime/sessions/bench-direct`, {
      "x-gatehouse-sub": "bench",
    });
    await roundTrips(direct, warmup);
    direct.removeAllListeners("message");
    const directLatencies = await roundTrips(direct, ROUND_TRIPS);
    direct.close();
    const relayed = await open(`${wsBase}/ws/bench-relay`, auth);
    await roundTrips(relayed, warmup);
    relayed.removeAllListeners("message");
    const relayLatencies = await roundTrips(relayed, ROUND_TRIPS);
    relayed.close();
    const d = summary(directLatencies);
    const r = summary(relayLatencies);
    console.log(`\nRelay latency, ${ROUND_TRIPS} sequential switch_agent → agent_switched round trips`);
    console.log(`  runtime directly   p50 ${ms(d.p50)}   p99 ${ms(d.p99)}`);
    console.log(`  through Gatehouse  p50 ${ms(r.p50)}   p99 ${ms(r.p99)}`);
    console.log(
      `  added by the relay p50 ${ms(r.p50 - d.p50)}   p99 ${ms(r.p99 - d.p99)}   (goal p50 ≤ 1 ms, p99 ≤ 5 ms)`,
    );

    // 2. memory per idle authenticated session
    const warm: WebSocket[] = [];
    for (let i = 0; i < 200; i++) warm.push(await open(`${wsBase}/ws/bench-warm-${i}`, auth));
    const before = await ask<{ rss: number; heapUsed: number; gcExposed: boolean }>(gatehouse.child, { cmd: "memory" });
    const sockets: WebSocket[] = [];
    const started = Date.now();
    for (let i = 0; i < SESSIONS; i += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, SESSIONS - i) }, (_, j) =>
        open(`${wsBase}/ws/bench-idle-${i + j}`, auth),
      );
      sockets.push(...(await Promise.all(batch)));
    }
    const openedIn = Date.now() - started;
    await new Promise((r) => setTimeout(r, 1000));
    const after = await ask<{ rss: number; heapUsed: number }>(gatehouse.child, { cmd: "memory" });
    const open_ = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
    console.log(
      `\nIdle authenticated sessions: ${open_}/${SESSIONS} open (opened in ${(openedIn / 1000).toFixed(1)} s, batches of ${BATCH})`,
    );
    console.log(`  Gatehouse RSS  ${(before.rss / 2 ** 20).toFixed(1)} MiB → ${(after.rss / 2 ** 20).toFixed(1)} MiB`);
    console.log(
      `  per session    RSS ${kib((after.rss - before.rss) / open_)}   JS heap ${kib((after.heapUsed - before.heapUsed) / open_)}   (goal RSS ≤ 16 KiB)`,
    );
    if (!before.gcExposed) console.log("  (no --expose-gc in the child: numbers include garbage)");
    for (const s of [...sockets, ...warm]) s.terminate();
  } finally {
    gatehouse.child.disconnect();
    runtime.child.kill();
    await new Promise((r) => gatehouse.child.once("exit", r));
  }
}

await main();
