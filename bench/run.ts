// `make bench`: Gatehouse against a bare node:http hello server and a bare Koa hello server, in the same run,
// on loopback; the baselines are loaded at the start and again at the end, and every ratio is taken against the
// mean of the two passes; the key lines are also followed at once by a Koa hello load (`adjacentKoa`), a line
// compared with another by a fresh load of that other line (`compareAdjacent`), and the goals take those ratios. Each line is loaded by autocannon, and the key lines by wrk too (./load.ts); while a
// line is loaded its target process measures its own event-loop delay and GC pauses (./target-stats.ts). The
// table and the goals of issue #17 come from ./report.ts; the lines from ./lines.ts.
//   BENCH_SECONDS (8) / BENCH_CONNECTIONS (64) tune the load; BENCH_ONLY=<substring> runs only the matching
//   Gatehouse lines (the baselines always run); BENCH_WRK=0 leaves wrk out; BENCH_NODE_MAJORS (20,22) are the
//   Node majors wanted (./node-versions.ts); BENCH_START_TOGETHER (the core count) targets are started at a
//   time. A line with a large response can ask for a same-bytes reference: a bare node:http server answering
//   exactly those bytes, and the ratio to it.
import { mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, haproxyForTests } from "../contract-tests/cluster/haproxy";
import { benchLines, type BenchLine } from "./lines";
import {
  autocannonLoad,
  findWrk,
  type LoadOptions,
  type LoadRequest,
  type LoadResult,
  warmUp,
  wrkLoad,
  wrkThreads,
} from "./load";
import { bundleTargets } from "./bundle";
import { bundleInTree } from "./node-tree";
import { otherNodes } from "./node-versions";
import type { LoadStats } from "./target-stats";
import { type Measurement, printGoals, printTable } from "./report";
import { API_KEY, startTarget, stopAllTargets, type Target, waitUntilIdle } from "./target-control";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ONLY = process.env.BENCH_ONLY;
const START_TOGETHER = Math.max(1, Number(process.env.BENCH_START_TOGETHER ?? availableParallelism()));

interface Variant {
  /** Another Node binary for the Gatehouse target, and the suffix its rows get. */
  execPath?: string;
  /** The bundle that Node runs, when it needs a tree of its own (./node-tree.ts). */
  script?: string;
  suffix?: string;
}

/**
 * A Koa hello target that stays up for the whole run: each key line (the ones wrk loads too, whose goals compare
 * them with Koa hello) is followed at once by the same load of it. The goals take that ratio: this machine's
 * speed drifts by tens of percent within minutes, and the start and end passes can be minutes away from the line.
 */
let adjacentKoa: Target | undefined;
const ADJACENT_NAME = "  koa hello, loaded right after";

/** A baseline loaded right after each load of a line, with the same tool. */
interface Pair {
  target: Target;
  name: string;
  key: string;
}

/**
 * autocannon, then wrk when asked for and available: one measurement each, with the target's stats. With a
 * `pair`, each tool's load of the line is followed at once by the same load of the pair's target.
 */
async function loadLine(
  target: Target,
  url: string,
  request: LoadRequest,
  row: { name: string; key?: string | undefined; withWrk?: boolean; expectStatus?: number | undefined },
  pair?: Pair,
): Promise<Measurement[]> {
  const opts: LoadOptions = { seconds: SECONDS, connections: CONNECTIONS, expectStatus: row.expectStatus };
  await warmUp(url, request);
  if (pair) await warmUp(`${pair.target.url}/`, {});
  const tools = [autocannonLoad, ...(row.withWrk && findWrk().path ? [wrkLoad] : [])];
  const rows: Measurement[] = [];
  for (const load of tools) {
    rows.push(measurementOf(row, await target.measure(() => load(url, request, opts))));
    if (!pair) continue;
    const paired = await pair.target.measure(() =>
      load(`${pair.target.url}/`, {}, { ...opts, expectStatus: undefined }),
    );
    rows.push(measurementOf(pair, paired));
  }
  return rows;
}

/** One row of the table: what a target's measure() gave for a load of the line (or pair) named. */
function measurementOf(
  of: { name: string; key?: string | undefined },
  {
    result,
    stats,
    stealPercent,
  }: { result: LoadResult; stats: LoadStats | undefined; stealPercent?: number | undefined },
): Measurement {
  return { name: of.name, key: of.key, ...result, stats, stealPercent };
}

/** The bare hello servers, loaded now; `when` names the pass in their rows ("start", "end"). */
async function baselines(when: string): Promise<Measurement[]> {
  const rows: Measurement[] = [];
  for (const [kind, name] of [
    ["node", "node:http hello"],
    ["koa", "koa hello"],
  ] as const) {
    const target = await startTarget(kind);
    const measured = await loadLine(
      target,
      `${target.url}/`,
      {},
      { name: `${name} (${when})`, key: kind, withWrk: true },
    );
    rows.push(...measured);
    target.stop();
  }
  return rows;
}

/**
 * The baselines every ratio is taken against: the mean of their start and end passes. This machine's speed drifts
 * during a run (a koa hello has measured 21k and 28k req/s an hour apart), and a single pass put every ratio on
 * that one moment. The passes themselves stay in the table, as lines compared with the mean.
 */
function meanBaselines(start: Measurement[], end: Measurement[]): Measurement[] {
  return start.flatMap((first) => {
    const last = end.find((m) => m.key === first.key && m.tool === first.tool);
    if (!last) return [];
    const mean = (a: number, b: number) => (a + b) / 2;
    const cpuMs = first.stats && last.stats ? first.stats.cpuMs + last.stats.cpuMs : undefined;
    return [
      {
        ...first,
        name: first.name.replace(" (start)", ""),
        baseline: true,
        rps: mean(first.rps, last.rps),
        p50: mean(first.p50, last.p50),
        p99: mean(first.p99, last.p99),
        p999: mean(first.p999, last.p999),
        // Both passes' requests and CPU, so that the CPU ratio is per CPU-second over both.
        requests: first.requests + last.requests,
        errors: first.errors + last.errors,
        stats: first.stats && cpuMs !== undefined ? { ...first.stats, cpuMs } : undefined,
      },
    ];
  });
}

/** The bytes (and type) one request of the line gets, to be served by the `bytes` target. */
async function captureResponse(url: string, opts: LoadRequest): Promise<Record<string, string>> {
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

/** Two Gatehouse nodes behind HAProxy; undefined (the line skipped) when HAProxy is not installed. */
async function behindHaproxy(line: BenchLine, first: Target, env: Record<string, string>, variant: Variant) {
  const second = await startTarget("gatehouse", { env, ...variant });
  const haproxy = await haproxyForTests(line.name);
  if (!haproxy) {
    second.stop();
    return undefined;
  }
  const balancer = await haproxy.start({ nodes: [first.url.slice(7), second.url.slice(7)], port: await freePort() });
  return {
    url: balancer.url,
    stop: async () => {
      await balancer.stop();
      second.stop();
    },
  };
}

/** A Gatehouse line whose target is started (and seeded). */
interface Launched {
  line: BenchLine;
  variant: Variant;
  name: string;
  key: string | undefined;
  env: Record<string, string>;
  target: Target;
  startedIn: number;
}

/** Prepares the line and starts its target; undefined (printed as skipped) when a service it needs is missing. */
async function launch(line: BenchLine, variant: Variant): Promise<Launched | undefined> {
  const name = line.name + (variant.suffix ?? "");
  const key = line.key && variant.suffix ? `${line.key}${variant.suffix}` : line.key;
  const missing = await line.unavailable?.();
  if (missing) {
    console.log(`${name}: skipped (${missing})`);
    return undefined;
  }
  const env = line.prepare ? await line.prepare() : {};
  const started = Date.now();
  try {
    const target = await startTarget("gatehouse", { env, ...variant });
    return { line, variant, name, key, env, target, startedIn: (Date.now() - started) / 1000 };
  } catch (err) {
    await line.cleanup?.();
    throw err;
  }
}

/**
 * The lines, their targets started START_TOGETHER at a time (start-up is mostly module loading and schema
 * compilation, minutes in all when done one after the other on a busy machine), then loaded one by one: while a
 * line is measured, at most START_TOGETHER - 1 started targets wait idle beside it (waitUntilIdle: quiet first).
 */
async function runLines(lines: BenchLine[], rows: Measurement[], variant: Variant = {}): Promise<void> {
  for (let i = 0; i < lines.length; i += START_TOGETHER) {
    const group = await Promise.allSettled(lines.slice(i, i + START_TOGETHER).map((l) => launch(l, variant)));
    const launched = group.flatMap((g) => (g.status === "fulfilled" && g.value ? [g.value] : []));
    const failed = group.find((g) => g.status === "rejected");
    if (failed) {
      for (const l of launched) l.target.stop();
      await Promise.all(launched.map((l) => l.line.cleanup?.()));
      throw failed.reason;
    }
    for (const [n, l] of launched.entries()) {
      try {
        await settle(launched.slice(n), l.name);
        rows.push(...(await runLine(l, rows)));
      } catch (err) {
        for (const rest of launched.slice(n + 1)) rest.target.stop();
        await Promise.all(launched.slice(n + 1).map((rest) => rest.line.cleanup?.()));
        throw err;
      }
    }
  }
}

/**
 * Waits until the line's target and those waiting beside it are done with start-up work (seeding, the WAL
 * checkpoint after it), and says so when that took long or never happened.
 */
async function settle(waiting: Launched[], lineName: string): Promise<void> {
  const started = Date.now();
  const idle = await waitUntilIdle(waiting.map((w) => w.target));
  const waitedS = (Date.now() - started) / 1000;
  if (!idle)
    console.log(`  ! targets still busy after ${waitedS.toFixed(0)} s: ${lineName} is measured beside their work`);
  else if (waitedS > 1) console.log(`  (waited ${waitedS.toFixed(1)} s for the targets to settle before ${lineName})`);
}

/** One Gatehouse line: its rows, its comparison rows and its same-bytes reference. */
async function runLine(launched: Launched, earlier: Measurement[]): Promise<Measurement[]> {
  const { line, variant, name, key, env, target } = launched;
  const started = Date.now();
  try {
    const balancer = line.twoNodesViaHaproxy ? await behindHaproxy(line, target, env, variant) : undefined;
    if (line.twoNodesViaHaproxy && !balancer) {
      console.log(`${name}: skipped (HAProxy is not installed)`);
      return [];
    }
    const base = balancer?.url ?? target.url;
    if (line.setup) await line.setup(base, API_KEY);
    const request = line.request?.(API_KEY) ?? {};
    const pair =
      line.wrk && adjacentKoa ? { target: adjacentKoa, name: ADJACENT_NAME, key: `${key}:koa-after` } : undefined;
    const rows = await loadLine(
      target,
      base + line.path,
      request,
      { name, key, withWrk: line.wrk ?? false, expectStatus: line.expectStatus },
      pair,
    );
    for (const row of rows.filter((r) => r.name === ADJACENT_NAME)) {
      const measured = rows.find((r) => r.key === key && r.tool === row.tool);
      if (measured)
        rows.push({ ...measured, key: undefined, name: "  → vs koa hello loaded right after", reference: row });
    }
    // The line's own rows only (not the Koa load after it, nor the ratios to that load).
    for (const row of rows.filter((r) => r.name === name && !r.reference)) {
      // On another Node major: the ratio to the same line on this one.
      const against = variant.suffix ? line.name : line.compareTo;
      const compared = earlier.find((r) => r.name === against && r.tool === row.tool && !r.reference);
      if (compared)
        rows.push({
          ...row,
          key: undefined,
          name: variant.suffix
            ? `  → vs the same line on Node ${process.version}`
            : `  → vs ${compared.name.replace("gatehouse ", "")}`,
          reference: compared,
        });
    }
    const bytes =
      line.sameBytesReference || line.koaFloorReference ? await captureResponse(base + line.path, request) : undefined;
    await balancer?.stop();
    target.stop();
    if (line.compareTo && !variant.suffix && !line.twoNodesViaHaproxy)
      rows.push(...(await compareAdjacent(line.compareTo, key, rows)));
    const measured = rows.filter((r) => !r.reference);
    if (bytes && line.sameBytesReference) rows.push(...(await sameBytes(measured, bytes, SAME_BYTES, {})));
    if (bytes && line.koaFloorReference) rows.push(...(await sameBytes(measured, bytes, KOA_FLOOR, request)));
    const took = (Date.now() - started) / 1000;
    console.log(
      `  ${name}: measured in ${took.toFixed(0)} s (started and seeded in ${launched.startedIn.toFixed(1)} s)`,
    );
    return rows;
  } finally {
    target.stop();
    await line.cleanup?.();
  }
}

/**
 * The line a line is compared with (`compareTo`), started again and loaded right after it with autocannon: the goals
 * that compare two lines take this adjacent ratio, since the compared line's own load can be minutes away.
 */
async function compareAdjacent(name: string, key: string | undefined, measured: Measurement[]): Promise<Measurement[]> {
  const other = benchLines.find((l) => l.name === name);
  const launched = other && (await launch(other, {}));
  if (!other || !launched) return [];
  try {
    if (other.setup) await other.setup(launched.target.url, API_KEY);
    const rows = await loadLine(launched.target, launched.target.url + other.path, other.request?.(API_KEY) ?? {}, {
      name: `  ${name.replace("gatehouse ", "")}, loaded right after`,
      key: `${key}:compare-after`,
      expectStatus: other.expectStatus,
    });
    return rows.flatMap((row) => {
      const line = measured.find((m) => m.key === key && m.tool === row.tool && !m.reference);
      return line ? [row, { ...line, key: undefined, name: "  → vs it, loaded right after", reference: row }] : [row];
    });
  } finally {
    launched.target.stop();
    await other.cleanup?.();
  }
}

/** A bare server answering a line's exact bytes: its target kind, its rows' names and key suffix. */
interface BytesReference {
  kind: string;
  name: string;
  vs: string;
  key: string;
}

const SAME_BYTES: BytesReference = {
  kind: "bytes",
  name: "  bare node:http, same response bytes",
  vs: "  → gatehouse vs the same bytes",
  key: "same-bytes",
};
const KOA_FLOOR: BytesReference = {
  kind: "koa-bytes",
  name: "  bare koa, same request read, same response bytes",
  vs: "  → gatehouse vs bare koa on the same exchange",
  key: "koa-floor",
};

/**
 * A bare server answering the line's exact bytes (`ref`: node:http, or Koa reading the same `request`), loaded with
 * each load generator of the line, and the ratios.
 */
async function sameBytes(
  line: Measurement[],
  bytes: Record<string, string>,
  ref: BytesReference,
  request: LoadRequest,
): Promise<Measurement[]> {
  const reference = await startTarget(ref.kind, { env: bytes });
  try {
    const measured = await loadLine(reference, `${reference.url}/`, request, {
      name: ref.name,
      key: `${line[0]!.key}:${ref.key}`,
      withWrk: line.some((m) => m.tool === "wrk"),
    });
    const comparisons = measured.flatMap((same) => {
      const gatehouse = line.find((m) => m.tool === same.tool);
      return gatehouse ? [{ ...gatehouse, key: undefined, name: ref.vs, reference: same }] : [];
    });
    return [...measured, ...comparisons];
  } finally {
    reference.stop();
  }
}

/**
 * The lines BENCH_ONLY names, plus the earlier lines they are compared with (so `BENCH_ONLY=PostgreSQL` still
 * prints its ratio to SQLite execute), in the order of ./lines.ts.
 */
function selectedLines(): BenchLine[] {
  if (!ONLY) return benchLines;
  const named = benchLines.filter((l) => l.name.includes(ONLY));
  const compared = new Set(named.map((l) => l.compareTo).filter(Boolean));
  return benchLines.filter((l) => named.includes(l) || compared.has(l.name));
}

function header(): void {
  const wrk = findWrk();
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
  console.log(
    `make bench — Node ${process.version}, ${SECONDS} s × ${CONNECTIONS} connections per load, load average ${load()}`,
  );
  console.log(
    `  wrk: ${wrk.path ? `${wrk.path} (${wrkThreads()} thread(s)) beside autocannon for the key lines` : `skipped (${wrk.why})`}`,
  );
  for (const other of otherNodes())
    console.log(
      `  Node ${other.major}: ${other.path ? `${other.version} at ${other.path} (key lines again)` : `skipped (${other.why})`}`,
    );
  if (loadavg()[0]! > availableParallelism())
    console.log(
      `  ! the machine is busy (load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores): wall-clock ratios measure the other work too; the µs CPU column and the CPU ratios of the goals less so`,
    );
  if (ONLY)
    console.log(`  BENCH_ONLY=${ONLY}: only the Gatehouse lines whose name contains it, and the lines they compare to`);
}

async function main(): Promise<void> {
  header();
  const started = Date.now();
  try {
    const start = await baselines("start");
    adjacentKoa = await startTarget("koa");
    const rows: Measurement[] = [];
    const lines = selectedLines();
    await runLines(lines, rows);
    for (const other of otherNodes().filter((o) => o.path)) {
      const script = other.tree ? bundleInTree(other.tree, await bundleTargets()) : undefined;
      const variant = { execPath: other.path!, suffix: ` [node ${other.major}]`, ...(script ? { script } : {}) };
      await runLines(
        lines.filter((l) => l.wrk),
        rows,
        variant,
      );
    }
    adjacentKoa.stop();
    const end = await baselines("end");
    // The passes are shown beside their mean (compared with it), under no key: goals find the mean.
    const passes = [...start, ...end].map((m) => ({ ...m, key: undefined }));
    const measured = [...meanBaselines(start, end), ...passes, ...rows];
    printTable(measured);
    printGoals(measured);
    const took = ((Date.now() - started) / 1000).toFixed(0);
    console.log(
      `\n(${took} s; load average now ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")} on ${availableParallelism()} cores: other work on the machine lowers every line)`,
    );
  } finally {
    stopAllTargets();
  }
}

export type { BenchLine };
main().catch((err) => {
  console.error(err);
  stopAllTargets();
  process.exit(1);
});
