// What `make bench` prints: one row per line and load generator (req/s, p50/p99/p99.9, the target's event-loop
// delay and longest GC pause during the load, ratios), then the goals of issue #17 with the measured values.
import type { LoadResult, Tool } from "./load";
import type { LoadStats } from "./target-stats";

export interface Measurement extends LoadResult {
  name: string;
  /** The line's key (goals find it by key and tool); `<key>:same-bytes` for a line's same-bytes reference. */
  key?: string | undefined;
  baseline?: boolean;
  /** For a comparison row: the measurement it is compared with (same tool). */
  reference?: Measurement;
  stats?: LoadStats | undefined;
  /** The share of the machine's CPU the hypervisor took during the load (target-control.ts stolenPercent). */
  stealPercent?: number | undefined;
}

const num = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "–");
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

export function printTable(rows: Measurement[]): void {
  const baselines = rows.filter((r) => r.baseline);
  const head = [
    "target".padEnd(62),
    "tool".padEnd(4),
    "req/s".padStart(7),
    "p50".padStart(6),
    "p99".padStart(6),
    "p99.9".padStart(6),
    "loop99".padStart(6),
    "loopMx".padStart(6),
    "GC max".padStart(6),
    "srv99".padStart(6),
    "µs CPU".padStart(6),
    "steal%".padStart(6),
    "errors".padStart(6),
    " ratios",
  ];
  console.log(`\n${head.join(" ")}`);
  console.log(
    `${" ".repeat(75)}(latency ms; loop: the target's event-loop delay, ms; GC: its longest pause, ms; srv99: p99 of the time the server held a request, ms; µs CPU: its CPU time per request; steal%: the machine's CPU time its hypervisor took during the load)`,
  );
  for (const r of rows) {
    const tool = r.tool === "autocannon" ? "ac" : "wrk";
    const ratios = r.baseline
      ? "(baseline)"
      : r.reference
        ? `${ratio(r.rps, r.reference.rps)} ${r.reference.name.trim()}`
        : baselines
            .filter((b) => b.tool === r.tool)
            .map((b) => `${ratio(r.rps, b.rps)} ${b.name}`)
            .join(", ");
    if (r.reference) {
      console.log(`${r.name.padEnd(62)} ${tool.padEnd(4)} ${" ".repeat(76)} ${ratios}`);
      continue;
    }
    const cells = [
      r.name.padEnd(62),
      tool.padEnd(4),
      r.rps.toFixed(0).padStart(7),
      num(r.p50).padStart(6),
      num(r.p99).padStart(6),
      num(r.p999).padStart(6),
      num(r.stats?.loopP99 ?? Number.NaN).padStart(6),
      num(r.stats?.loopMax ?? Number.NaN).padStart(6),
      num(r.stats?.gcMaxMs ?? Number.NaN).padStart(6),
      num(r.stats?.serverP99 ?? Number.NaN, 2).padStart(6),
      num(r.stats ? (r.stats.cpuMs * 1000) / r.requests : Number.NaN, 0).padStart(6),
      num(r.stealPercent ?? Number.NaN, 0).padStart(6),
      String(r.errors).padStart(6),
      ` ${ratios}`,
    ];
    console.log(cells.join(" "));
  }
  warnEmpty(rows);
  warnStolen(rows);
}

/** Above this share of stolen CPU time, a line's numbers are the host's as much as the target's. */
const STEAL_WARNING_PERCENT = 5;

/** Lines loaded while the hypervisor took a noticeable share of the machine (a shared VM): named, with the share. */
function warnStolen(rows: Measurement[]): void {
  const stolen = rows.filter((m) => !m.reference && (m.stealPercent ?? 0) > STEAL_WARNING_PERCENT);
  for (const r of stolen)
    console.log(
      `  ! ${r.name.trim()} (${r.tool}): the hypervisor took ${num(r.stealPercent!, 0)} % of the machine's CPU during its load (its req/s and tails are the host's as much as Gatehouse's)`,
    );
}

/** Lines that answered nothing in their window (a hung or overloaded target): their zeros are not a measurement. */
function warnEmpty(rows: Measurement[]): void {
  for (const r of rows.filter((m) => !m.reference && !(m.requests > 0)))
    console.log(`  ! ${r.name.trim()} (${r.tool}): no answer within the load window`);
}

interface Verdict {
  goal: string;
  measured: string;
  /** undefined: a line the goal needs did not run. */
  met: boolean | undefined;
}

type Find = (key: string, tool: Tool) => Measurement | undefined;

/**
 * The same ratio in requests per CPU-second of each target (informational): on a machine shared with other work
 * the wall-clock ratio measures the neighbours too, the CPU time far less.
 */
function cpuRatio(m: Measurement, base: Measurement): string | undefined {
  if (!m.stats?.cpuMs || !base.stats?.cpuMs || !m.requests || !base.requests) return undefined;
  return `${(m.requests / m.stats.cpuMs / (base.requests / base.stats.cpuMs)).toFixed(2)}×`;
}

/** A throughput ratio (and optionally a p99 bound) per load generator that measured both lines. */
function ratioGoal(
  find: Find,
  goal: string,
  line: string,
  against: string,
  min: number,
  options: { p99Max?: number; tools?: Tool[]; label?: string } = {},
): Verdict {
  const parts: string[] = [];
  let met: boolean | undefined;
  for (const tool of options.tools ?? (["autocannon", "wrk"] as Tool[])) {
    const m = find(line, tool);
    // The load of the other side that followed the line at once, when there is one (bench/run.ts): Koa hello, or
    // the line this one is compared with.
    const adjacent = find(`${line}:${against === "koa" ? "koa-after" : "compare-after"}`, tool);
    const base = adjacent ?? find(against, tool);
    if (!m || !base) continue;
    const r = m.rps / base.rps;
    const p99ok = options.p99Max === undefined || m.p99 <= options.p99Max;
    const cpu = cpuRatio(m, base);
    parts.push(
      `${tool} ${r.toFixed(2)}×${adjacent ? " adj." : ""}${options.p99Max === undefined ? "" : `, p99 ${num(m.p99)} ms`}${cpu ? ` (CPU ${cpu})` : ""}`,
    );
    met = (met ?? true) && r >= min && p99ok;
  }
  return { goal, measured: parts.join("; ") || "not measured", met };
}

/** The goals of the key lines (the ones wrk loads too), for the lines whose keys end with `suffix`. */
function keyGoals(find: Find, suffix = ""): Verdict[] {
  return [
    ratioGoal(find, `GET /health ≥ 0.6× koa hello${suffix}`, `health${suffix}`, "koa", 0.6),
    ratioGoal(find, `evaluate ≥ 0.5× koa, p99 ≤ 10 ms (wrk and autocannon)${suffix}`, `evaluate${suffix}`, "koa", 0.5, {
      p99Max: 10,
    }),
    ratioGoal(find, `execute (SQLite, audit) ≥ 0.3× koa, p99 ≤ 20 ms${suffix}`, `execute${suffix}`, "koa", 0.3, {
      p99Max: 20,
    }),
    ratioGoal(
      find,
      `GET /purutos (100) ≥ 0.8× bare node:http same bytes${suffix}`,
      `purutos${suffix}`,
      `purutos${suffix}:same-bytes`,
      0.8,
    ),
  ];
}

function goalsOf(rows: Measurement[]): Verdict[] {
  const find: Find = (key, tool) => rows.find((r) => r.key === key && r.tool === tool && !r.reference);
  const ac: { tools: Tool[] } = { tools: ["autocannon"] };
  const gatehouse = rows.filter((r) => !r.baseline && !r.reference && r.name.startsWith("gatehouse"));
  const printed = gatehouse.length > 0 && gatehouse.every((r) => Number.isFinite(r.p999) && r.stats);
  // The key lines also ran on another Node major when one was available (bench/node-versions.ts): their keys end
  // with that suffix, and they are held to the same goals (against Koa hello on the bench's own Node).
  const otherMajors = [...new Set(rows.flatMap((r) => /( \[node \d+\])$/.exec(r.key ?? "")?.[1] ?? []))];
  return [
    ...keyGoals(find),
    ...otherMajors.flatMap((suffix) => keyGoals(find, suffix)),
    ratioGoal(find, "execute on PostgreSQL ≥ 0.5× execute on SQLite", "execute-pg", "execute", 0.5, ac),
    ratioGoal(find, "escalate with 10k pending ≥ 0.9× with none, p99 ≤ 50 ms", "escalate-10k", "escalate-0", 0.9, {
      ...ac,
      p99Max: 50,
    }),
    ratioGoal(find, "execute with 100k audit records ≥ 0.9× empty store", "execute-audit-100k", "execute", 0.9, ac),
    ratioGoal(find, "execute with 1k manifests ≥ 0.9× empty store", "execute-manifests-1k", "execute", 0.9, ac),
    ratioGoal(find, "MCP tools/call ≥ 0.8× REST execute", "mcp", "execute", 0.8, ac),
    {
      goal: "p99.9 and longest GC pause printed for every line",
      measured: printed ? `${gatehouse.length} Gatehouse rows` : "missing on some rows",
      met: gatehouse.length ? printed : undefined,
    },
  ];
}

export function printGoals(rows: Measurement[]): void {
  const verdicts = goalsOf(rows);
  console.log(
    "\nGoals (issue #17): req/s ratios within this run, met when every load generator that measured the line meets it; adj.: against the load of the other side (Koa hello, or the compared line) right after the line; (CPU …×) is the ratio in requests per CPU-second of the targets, for a busy machine",
  );
  for (const v of verdicts) {
    const verdict = v.met === undefined ? "not measured" : v.met ? "met" : "NOT met";
    console.log(`  ${v.goal.padEnd(68)} ${verdict.padEnd(12)} ${v.measured}`);
  }
  printKoaCeilings(rows);
}

/**
 * The ceilings of the Koa-bound goals: a bare Koa app doing the line's exchange (bench/lines.ts
 * `koaFloorReference`: it reads the same request and sends the same answer bytes) against the goal's baseline.
 * No Koa server doing that exchange does better than this ratio, so a goal above it cannot be met on Koa.
 */
function printKoaCeilings(rows: Measurement[]): void {
  const find: Find = (key, tool) => rows.find((r) => r.key === key && r.tool === tool && !r.reference);
  const ceilings = [
    { line: "evaluate", baseline: "koa", says: "evaluate's request and answer", of: "koa hello" },
    {
      line: "purutos",
      baseline: "purutos:same-bytes",
      says: "GET /purutos's answer",
      of: "bare node:http, same bytes",
    },
  ];
  for (const { line, baseline, says, of } of ceilings) {
    const parts = (["autocannon", "wrk"] as Tool[]).flatMap((tool) => {
      const floor = find(`${line}:koa-floor`, tool);
      const base = find(baseline, tool);
      return floor && base ? [`${tool} ${(floor.rps / base.rps).toFixed(2)}×`] : [];
    });
    if (parts.length)
      console.log(
        `  (context: a bare Koa app with ${says} runs at ${parts.join(", ")} ${of} — the ceiling of that ratio on Koa)`,
      );
  }
}
