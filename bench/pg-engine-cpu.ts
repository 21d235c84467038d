// Gateway CPU per governed execute on PostgreSQL without HTTP: the shared engine (decide, reserve, noop connector,
// outcome, snapshot) of each checkout, loaded as its own module graph in this one process, on a database of its
// own; rounds alternate between the checkouts (A, B, A, B …) and the medians are printed, so the drift of a shared
// machine hits every checkout alike. CPU is this process's (user + system): the store path's JavaScript, the pg
// driver and its socket writes and reads — not PostgreSQL's.
//   npx tsx bench/pg-engine-cpu.ts [executes=2000] [rounds=9] [concurrency=64] checkout…
import { resolve, join } from "node:path";
import { pathToFileURL } from "node:url";

const [executesArg = "2000", roundsArg = "9", concurrencyArg = "64", ...paths] = process.argv.slice(2);
const executes = Number(executesArg);
const concurrency = Number(concurrencyArg);
const checkouts = (paths.length ? paths : ["."]).map((p) => resolve(p));
// biome-ignore lint/suspicious/noExplicitAny: each checkout's modules, loaded by path.
const load = (root: string, path: string): Promise<any> => import(pathToFileURL(join(root, path)).href);

const ORG = "bench-org";
const request = {
  uapk_id: "bench-bot",
  agent_id: "bench-bot",
  action: { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hello" } },
};

async function engineOf(root: string) {
  const { createTestPgDatabase, reachablePostgres } = await load(root, "src/core/store/test-support.ts");
  const { createSharedStores } = await load(root, "src/core/store/shared/index.ts");
  const { createSharedGovernanceEngine } = await load(root, "src/core/governance/shared-engine.ts");
  const { logger } = await load(root, "src/core/log/logger.ts");
  logger.level = "silent";
  const database = await createTestPgDatabase(await reachablePostgres());
  const db = await database.openMigrated(10);
  const stores = createSharedStores(db, { secret: "bench-secret-0123456789abcdef" });
  await stores.manifests.register(ORG, {
    uapk_id: "bench-bot",
    agent: { id: "bench-bot", name: "Bench Bot", version: "1.0.0" },
    capabilities: ["email:send"],
    constraints: { max_actions_per_hour: 1_000_000_000 },
    tools: { "email:send": { connector: { type: "noop" } } },
  });
  const engine = createSharedGovernanceEngine({ stores, ping: async () => true });
  return { engine, drop: () => database.drop() };
}

async function run(engine: { execute: (org: string, r: typeof request) => Promise<{ executed: boolean }> }, n: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const answer = await engine.execute(ORG, request);
        if (!answer.executed) throw new Error(`not executed: ${JSON.stringify(answer)}`);
      }
    }),
  );
}

const engines = [];
for (const root of checkouts) {
  const e = await engineOf(root);
  await run(e.engine, 500); // warm-up
  engines.push({ root, ...e, cpu: [] as number[], rps: [] as number[] });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (let r = 0; r < Number(roundsArg); r++) {
  for (const e of r % 2 ? [...engines].reverse() : engines) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await run(e.engine, executes);
    const used = process.cpuUsage(cpu);
    e.cpu.push((used.user + used.system) / executes);
    e.rps.push(executes / ((performance.now() - started) / 1000));
  }
  console.log(`round ${r + 1}: ${engines.map((e) => `${Math.round(e.cpu.at(-1)!)} µs`).join(" | ")}`);
}
for (const e of engines)
  console.log(
    `median ${e.root}: ${Math.round(median(e.cpu))} µs CPU per execute, ${Math.round(median(e.rps))} executes/s`,
  );
for (const e of engines) await e.drop();
process.exit(0);
