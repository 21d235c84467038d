// Where one bench line spends its CPU: runs the Gatehouse target of that line under `--cpu-prof`, loads it
// with autocannon like `make bench` does, then prints the functions with the most self time.
//   npx tsx bench/profile.ts [line-substring] [seconds]     e.g. `npx tsx bench/profile.ts evaluate 5`
//   PROFILE_TARGET=koa npx tsx bench/profile.ts health 5  (the same load on the Koa hello baseline)
//   PROFILE_LOAD=wrk npx tsx bench/profile.ts purutos 5   (loaded by wrk instead of autocannon)
//   PROFILE_BUNDLE=1 npx tsx bench/profile.ts execute 5   (the production bundle `make bench` loads, see below)
//   PROFILE_NODE=22 npx tsx bench/profile.ts evaluate 5   (the bundle on Node 22, as `make bench`'s [node 22] lines)
//   PROFILE_PORT=47010 npx tsx bench/profile.ts purutos 5 (the target's port, default 18190: two profiles at once)
// The target runs under tsx, not from the bundle `make bench` loads (./bundle.ts): each function then names its
// source file and line; tsx adds a `__name` call per named function, a few % more time than production.
// Only the measured load is profiled (not start-up or warm-up). The raw .cpuprofile stays in .tmp/profiles/
// (open it in Chrome DevTools → Performance for the call tree). PROFILE_BUNDLE=1 profiles the bundle instead
// (./bundle.ts): the shares are production's, but functions name the bundle's lines, not the sources'.
//
// Read `writev` with care: V8's sampler over-counts a system call's self time. On GET /purutos (59 KB answers)
// the profile put 56 % of the busy samples in `writev`, while `perf record` of the same load put 29 % of the
// process's CPU in the kernel as a whole (all its calls: read, writev, epoll) and `strace -c` counted one writev of
// about 15 µs per request of 113 µs. For the kernel/user split use
//   perf stat -e task-clock -p <pid>   (CPU per request: divide by the requests the load made)
//   perf record -g -p <pid> with NODE_OPTIONS=--perf-basic-prof-only-functions on the target, then
//   perf report --sort dso  (kernel, node's builtins and runtime, JIT-compiled JavaScript).
import { fork } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import { bundleTargets } from "./bundle";
import { benchLines } from "./lines";
import { wrkLoad } from "./load";
import { bundleInTree } from "./node-tree";
import { otherNodes } from "./node-versions";
import { API_KEY, targetEnv } from "./target-control";

/** The Node of `major` the bench would use for its lines on that major; exits when there is none. */
function nodeOfMajor(major: number): { path: string; tree?: string | undefined } {
  process.env.BENCH_NODE_MAJORS = String(major);
  const found = otherNodes()[0];
  if (found?.path) return { path: found.path, tree: found.tree };
  console.error(`no Node ${major} to profile on: ${found?.why ?? "it is the Node running this script"}`);
  process.exit(2);
}

const PORT = Number(process.env.PROFILE_PORT ?? 18190);
const [filter = "health", secondsArg = "5"] = process.argv.slice(2);
const line = benchLines.find((l) => l.name.includes(filter));
if (!line) {
  console.error(`no bench line matches "${filter}": ${benchLines.map((l) => l.name).join(" | ")}`);
  process.exit(2);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

/** Self time per function (by name + file + line), as a share of the busy (non-idle) samples. */
function summarise(profile: Profile, top = 40): void {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = byNode.get(id)!.callFrame;
    if (functionName === "(idle)") continue;
    busy++;
    const where = url.replace(/^file:\/\//, "").replace(`${process.cwd()}/`, "");
    const key = `${functionName || "(anonymous)"}  ${where}:${lineNumber + 1}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  console.log(`\nself time, ${busy} busy of ${profile.samples.length} samples — ${line!.name}`);
  for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((n / busy) * 100).toFixed(1).padStart(5)}%  ${key}`);
  }
}

const dir = resolve(".tmp/profiles");
mkdirSync(dir, { recursive: true });
const file = join(dir, `${filter.replace(/\W+/g, "-")}-${Date.now()}.cpuprofile`);
const env = line.prepare ? await line.prepare() : {};
// PROFILE_TARGET=koa|node profiles the same load on a baseline target, to compare where its time goes.
const target = process.env.PROFILE_TARGET ?? "gatehouse";
// PROFILE_NODE=22: the target runs on that Node major (bench/node-versions.ts finds or installs it), from the bundle.
const otherNode = process.env.PROFILE_NODE ? nodeOfMajor(Number(process.env.PROFILE_NODE)) : undefined;
const bundled = process.env.PROFILE_BUNDLE === "1" || otherNode !== undefined;
const bundle = bundled ? await bundleTargets() : undefined;
const script = bundle
  ? otherNode?.tree
    ? bundleInTree(otherNode.tree, bundle)
    : bundle
  : resolve(import.meta.dirname, "targets.ts");
const child = fork(script, [target, String(PORT)], {
  execArgv: bundled ? [] : ["--import", "tsx"],
  ...(otherNode ? { execPath: otherNode.path } : {}),
  // The same quotas as `make bench` (rate limits on, never reached), so the profile shows the decision path.
  env: targetEnv(env),
  stdio: ["ignore", "inherit", "inherit", "ipc"],
});
const reply = (message?: object) =>
  new Promise<unknown>((ok, fail) => {
    child.once("message", ok);
    child.once("exit", (code) => fail(new Error(`target exited with ${code}`)));
    if (message) child.send(message);
  });
await reply();
const base = `http://127.0.0.1:${PORT}`;
if (line.setup) await line.setup(base, API_KEY);
const options = { url: base + line.path, ...line.request?.(API_KEY) };
await autocannon({ ...options, connections: 8, duration: 1 }); // warm-up, not profiled
await reply({ cmd: "profile-start" });
// PROFILE_LOAD=wrk loads with wrk instead: autocannon parses every answer in JavaScript, and for a large one
// (GET /purutos, 59 KB) it saturates before the server does.
if (process.env.PROFILE_LOAD === "wrk") {
  const result = await wrkLoad(options.url, options, { connections: 64, seconds: Number(secondsArg) });
  await reply({ cmd: "profile-stop", file });
  console.log(`${Math.round(result.rps)} req/s (wrk), p50 ${result.p50} ms, p99 ${result.p99} ms`);
} else {
  const result = await autocannon({ ...options, connections: 64, duration: Number(secondsArg) });
  await reply({ cmd: "profile-stop", file });
  console.log(
    `${result.requests.average} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}`,
  );
}
child.kill();
console.log(`profile: ${file}`);
summarise(JSON.parse(readFileSync(file, "utf8")) as Profile);
