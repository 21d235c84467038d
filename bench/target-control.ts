// The bench's targets (bench/targets.ts, run from its production-like bundle: ./bundle.ts), each a forked child
// process with an IPC channel: start one, ask it for its event-loop and GC statistics around a load, stop it.
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { bundleTargets } from "./bundle";
import type { LoadStats } from "./target-stats";

export const API_KEY = "bench-api-key-123";

const BENCH_RATE_LIMITS = {
  GATEHOUSE_RATE_LIMIT_PER_API_KEY: "1000000000",
  GATEHOUSE_RATE_LIMIT_PER_AGENT: "1000000000",
};

export interface Target {
  url: string;
  port: number;
  child: ChildProcess;
  /**
   * Runs `load` between stats-start and stats-stop: the target's loop delay and GC pauses during it, and the share
   * of the machine's CPU time the hypervisor took meanwhile (stealPercent).
   */
  measure<T>(
    load: () => Promise<T>,
  ): Promise<{ result: T; stats: LoadStats | undefined; stealPercent: number | undefined }>;
  stop(): void;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Another Node binary for the target (a line per Node major). */
  execPath?: string;
  /** The targets' bundle to run instead of this checkout's (the copy in another major's tree: ./node-tree.ts). */
  script?: string;
}

const running = new Set<ChildProcess>();

/** Every target still running (the run's `finally` stops them). */
export function stopAllTargets(): void {
  for (const child of running) child.kill();
  running.clear();
}

/**
 * The environment of a Gatehouse target: the bench API key, no log lines, and rate limits on (their cost is
 * measured) with quotas no benchmark reaches; `extra` (a line's own settings) last.
 */
export function targetEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PURUTO_GATEWAY_API_KEY: API_KEY, LOG_LEVEL: "silent", ...BENCH_RATE_LIMITS, ...extra };
}

/** Starts a target on a port the system picks (concurrent bench runs on one machine never collide). */
export async function startTarget(kind: string, options: StartOptions = {}): Promise<Target> {
  const child = fork(options.script ?? (await bundleTargets()), [kind, "0"], {
    execArgv: [],
    ...(options.execPath ? { execPath: options.execPath } : {}),
    env: targetEnv(options.env),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const { port } = (await reply(child)) as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    async measure(load) {
      await reply(child, { cmd: "stats-start" });
      const before = machineTicks();
      const result = await load();
      const stealPercent = stolenPercent(before, machineTicks());
      const answer = (await reply(child, { cmd: "stats-stop" })) as { stats?: LoadStats };
      return { result, stats: answer.stats, stealPercent };
    },
    stop() {
      child.kill();
      running.delete(child);
    },
  };
}

/** The child's next message (after sending `message`, if any); fails when the child exits first. */
function reply(child: ChildProcess, message?: object): Promise<unknown> {
  return new Promise((ok, fail) => {
    const onExit = (code: number | null) => fail(new Error(`bench target exited with ${code}`));
    child.once("exit", onExit);
    child.once("message", (m) => {
      child.off("exit", onExit);
      ok(m);
    });
    if (message) child.send(message);
  });
}

/** CPU time (ms) the process has used, all threads; undefined where /proc is not there (not Linux) or it exited. */
export function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The machine's CPU time so far, all cores (/proc/stat ticks): in all, and stolen by the hypervisor. */
interface MachineTicks {
  total: number;
  steal: number;
}

/** Undefined where /proc/stat is not there (not Linux). */
export function machineTicks(): MachineTicks | undefined {
  try {
    const first = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    // cpu user nice system idle iowait irq softirq steal (guest time is already counted in user)
    const ticks = first.trim().split(/\s+/).slice(1, 9).map(Number);
    if (ticks.length < 8 || ticks.some((n) => !Number.isFinite(n))) return undefined;
    return { total: ticks.reduce((sum, n) => sum + n, 0), steal: ticks[7]! };
  } catch {
    return undefined;
  }
}

/**
 * The share (%) of the machine's CPU time between two readings that the hypervisor gave to other guests. On a
 * shared VM it reached 20 % during a load: the vCPUs then stall for tens of ms at a time, which no code of the
 * target can cause or remove, and its req/s and tails in that window say more about the host than about it.
 */
export function stolenPercent(before: MachineTicks | undefined, after: MachineTicks | undefined): number | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  return ((after.steal - before.steal) / (after.total - before.total)) * 100;
}

/** Linux's USER_HZ, what /proc/<pid>/stat counts CPU time in (100 on every mainstream architecture). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Waits until the targets have been quiet (under 5 % of a core together) for `windowMs`, at most `maxMs`; false
 * when they never were. Targets are started two at a time and seeded (100,000 audit records, 10,000 approvals):
 * a line must not be loaded while its own target or the one waiting beside it still works on that (inserts, the
 * WAL checkpoint that follows, GC). Before this wait, `make bench` measured the first REST execute line (started
 * beside the 100k-record target) at 2.7k req/s and 421 µs per request; with it, 4.7k and 244 µs — one run each,
 * so the machine's drift may account for part of it.
 */
export async function waitUntilIdle(targets: Target[], windowMs = 500, maxMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  const total = () => targets.reduce((sum, t) => sum + (cpuMsOf(t.child.pid) ?? 0), 0);
  let before = total();
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const now = total();
    if (now - before < windowMs * 0.05) return true;
    before = now;
  }
  return false;
}
