// CPU per governed execute on the embedded store's write path, in-process: each turn of the event loop reserves
// PER_TURN intents (in group-commit units, as the engine's reservations do) and records the outcomes of the
// previous turn's intents (the audit log's grouped appends), as a loaded gateway does. No HTTP, no load generator:
// what the group commits, the audit appends and SQLite cost, measured with process.cpuUsage() — on a shared
// machine far steadier than a load test, whose HTTP part is most of the CPU and most of the noise.
//   npx tsx bench/group-commit-path.ts [checkout …]   (several: their runs alternate, A, B, B, A …)
// Each run is a child process of its own with one checkout's modules, on a fresh database file: two checkouts
// loaded into one process measured whichever was loaded first 15-30 % cheaper (the shared code's inline caches
// then see two sets of shapes), whatever the order of their rounds.
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** Child processes per checkout, alternated; measurements per child. */
const RUNS = 3;
const ROUNDS = 5;
const TURNS = 200;
const WARM_TURNS = 20;
const PER_TURN = 32;

const CHILD = "GATEHOUSE_GROUP_BENCH_CHILD";

// biome-ignore lint/suspicious/noExplicitAny: each checkout's modules, loaded by path.
const load = (root: string, path: string): Promise<any> => import(pathToFileURL(join(root, path)).href);

/** The policy trace of an ALLOW, about the size of the bench manifest's (nine checks). */
const trace = {
  checks: Array.from({ length: 9 }, (_, i) => ({
    check: `check_${i}`,
    result: "pass",
    details: { manifest_id: "11e4aaf3-536c-4f61-87be-880208739388", current: i, limit: 1_000_000_000 },
  })),
};
const action = { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hello" } };

/** One turn's writes on `root`'s code: this turn's reservations and the previous turn's outcomes. */
async function turnsOf(root: string, dir: string): Promise<() => Promise<void>> {
  const { createAuditLog, newInteractionId } = await load(root, "src/core/audit/audit-log.ts");
  const { groupCommit } = await load(root, "src/core/store/group-commit.ts");
  const { openMigratedDatabase } = await load(root, "src/core/store/test-support.ts");
  const db = await openMigratedDatabase(join(dir, "bench.db"));
  const log = createAuditLog(db);
  const reservations = groupCommit(db); // as the engine holds it: one, made once
  let started: string[] = [];
  return async () => {
    const ids = Array.from({ length: PER_TURN }, () => newInteractionId());
    const intent = (interaction_id: string) => ({
      org_id: "org-bench",
      interaction_id,
      uapk_id: "bench-bot",
      agent_id: "bench-bot",
      action,
      decision: "ALLOW",
      reasons: [],
      policy_trace: trace,
      meta: { channel: "rest" },
    });
    await Promise.all([
      ...ids.map((id) => reservations.run(() => log.appendIntent(intent(id)))),
      ...started.map((interaction_id) =>
        log.appendOutcomeGrouped({ org_id: "org-bench", interaction_id, executed: true, result: { success: true } }),
      ),
    ]);
    started = ids;
  };
}

/** In a child: ROUNDS measurements of one checkout, µs CPU per execute's writes, sent to the parent. */
async function measureOne(root: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-group-bench-"));
  try {
    const turn = await turnsOf(root, dir);
    const perExecute: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let t = 0; t < WARM_TURNS; t++) await turn();
      const before = process.cpuUsage();
      for (let t = 0; t < TURNS; t++) await turn();
      const used = process.cpuUsage(before);
      perExecute.push((used.user + used.system) / (TURNS * PER_TURN));
    }
    process.send?.(perExecute);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One child process measuring `root` (this script under the same loader, tsx). */
function runChild(root: string): Promise<number[]> {
  return new Promise((ok, fail) => {
    const child = fork(import.meta.filename, [root], { env: { ...process.env, [CHILD]: "1" } });
    let measured: number[] | undefined;
    child.once("message", (m) => {
      measured = m as number[];
    });
    child.once("error", fail);
    child.once("exit", (code) => (measured ? ok(measured) : fail(new Error(`measuring ${root} exited ${code}`))));
  });
}

const args = process.argv.slice(2).map((p) => resolve(p));
if (process.env[CHILD]) await measureOne(args[0]!);
else {
  const checkouts = args.length ? args : [resolve(import.meta.dirname, "..")];
  const perExecute = checkouts.map(() => [] as number[]);
  for (let run = 0; run < RUNS; run++) {
    const order = checkouts.map((_, i) => i);
    for (const i of run % 2 ? order.reverse() : order) perExecute[i]!.push(...(await runChild(checkouts[i]!)));
  }
  console.log(
    `µs CPU per execute's writes (intent + outcome), ${PER_TURN} per turn; ${RUNS} processes × ${ROUNDS} rounds of ${TURNS} turns each`,
  );
  for (const [i, root] of checkouts.entries()) {
    const sorted = [...perExecute[i]!].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(`  ${median.toFixed(1).padStart(6)} median (min ${sorted[0]!.toFixed(1)})  ${root}`);
  }
}
