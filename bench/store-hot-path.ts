// CPU per call of the embedded SQLite stores on the governed-action hot path (manifest read, budget counters,
// idempotency, audit append, known counterparties, API key), measured in-process with process.cpuUsage() — a
// focused micro-benchmark of the store calls, not a load test (the machine may be shared: a few thousand calls per
// line and round; the median and the minimum of the rounds are printed).
//   [BENCH_LINES=word,…] npx tsx bench/store-hot-path.ts [iterations=2000] [rounds=5] [checkout …]
// With several checkouts (e.g. this one and a worktree of main), each is loaded as its own module graph in this
// one process and the rounds alternate between them (A, B, A, B …), so load on a shared machine hits both alike.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const iterations = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 5);
const checkouts = process.argv.slice(4).map((p) => resolve(p));
if (checkouts.length === 0) checkouts.push(resolve(import.meta.dirname, ".."));

// biome-ignore lint/suspicious/noExplicitAny: each checkout's modules, loaded by path.
const load = (root: string, path: string): Promise<any> => import(pathToFileURL(join(root, path)).href);

/** The store calls to time, on a fresh database file of `root`'s own code. */
async function linesOf(root: string, dir: string): Promise<Record<string, () => void>> {
  const { createAuditLog, newInteractionId } = await load(root, "src/core/audit/audit-log.ts");
  const { createApiKeyStore } = await load(root, "src/core/identity/api-keys.ts");
  const { createIdempotencyStore } = await load(root, "src/core/idempotency/idempotency.ts");
  const { BudgetCounters } = await load(root, "src/core/policy/budget-counters.ts");
  const { KnownCounterparties } = await load(root, "src/core/policy/known-counterparties.ts");
  const { ManifestRepository } = await load(root, "src/core/policy/manifest-repository.ts");
  const { ORG, supportBot } = await load(root, "src/core/policy/test-fixtures.ts");
  const { openMigratedDatabase } = await load(root, "src/core/store/test-support.ts");

  const db = await openMigratedDatabase(join(dir, "bench.db"));
  const inOneTransaction = db.transaction((work: () => void) => work());
  const manifests = new ManifestRepository(db);
  const manifest = manifests.register(ORG, supportBot());
  const budgets = new BudgetCounters(db);
  const audit = createAuditLog(db);
  const idempotency = createIdempotencyStore(db);
  const counterparties = new KnownCounterparties(db);
  const apiKeys = createApiKeyStore(db, { secret: Buffer.alloc(32, 1), envKeys: [], defaultOrg: ORG });
  const { key } = apiKeys.create(ORG, "bench");
  counterparties.remember(ORG, manifest.uapk_id, "c@example.com", new Date());
  const action = { type: "email", tool: "send", params: { to: "c@example.com", subject: "Hi", body: "text" } };
  const window = BudgetCounters.hourWindow(new Date());
  let n = 0;

  /** One governed execute's store calls, in the engine's order. */
  function request(): void {
    const i = n++;
    const m = manifests.getByUapkId(ORG, manifest.uapk_id);
    if (!m) throw new Error("manifest missing");
    const hourly = BudgetCounters.hourlyScope(ORG, m.uapk_id, "bot-1");
    const token = BudgetCounters.tokenScope(`jti-${i % 50}`);
    budgets.current(hourly, window);
    budgets.current(token, 0);
    counterparties.isKnown(ORG, m.uapk_id, "c@example.com");
    const scope = { org_id: ORG, agent_id: "bot-1", key: `k-${i}` };
    if (idempotency.begin({ ...scope, requestHash: "h" }).state !== "new") throw new Error("key reused");
    const slots = [
      { scope: hourly, window, limit: 1e9 },
      { scope: token, window: 0, limit: 1e9 },
    ];
    if (!budgets.tryConsume(slots).ok) throw new Error("budget exhausted");
    const interaction_id = newInteractionId();
    audit.appendIntent({
      org_id: ORG,
      interaction_id,
      uapk_id: m.uapk_id,
      agent_id: "bot-1",
      action,
      decision: "ALLOW",
      reasons: [],
      policy_trace: { checks: [] },
    });
    audit.appendOutcome({ org_id: ORG, interaction_id, executed: true, result: { success: true, data: { id: i } } });
    idempotency.complete(scope, { decision: "ALLOW", timestamp: new Date().toISOString() });
  }

  return {
    "execute (all of the below, in order)": request,
    "manifest getByUapkId (cached)": () => manifests.getByUapkId(ORG, manifest.uapk_id),
    "manifest get by id (read + parse)": () => manifests.get(ORG, manifest.manifest_id),
    "budget current (uncached read)": () => budgets.current(`cold:${n++}`, window),
    "budget tryConsume (2 slots)": () =>
      budgets.tryConsume([
        { scope: "a", window, limit: 1e9 },
        { scope: "b", window: 0, limit: 1e9 },
      ]),
    // One slot, as most executes take, 32 in one transaction as a loaded group commit runs them.
    "budget tryConsume ×32 (1 slot each, one transaction)": () =>
      inOneTransaction(() => {
        for (let i = 0; i < 32; i++) budgets.tryConsume([{ scope: "c", window, limit: 1e9 }]);
      }),
    "idempotency begin + complete": () => {
      const scope = { org_id: ORG, agent_id: "bot-2", key: `b-${n++}` };
      idempotency.begin({ ...scope, requestHash: "h" });
      idempotency.complete(scope, { decision: "ALLOW" });
    },
    "audit appendDecision": () =>
      audit.appendDecision({
        org_id: ORG,
        interaction_id: newInteractionId(),
        uapk_id: manifest.uapk_id,
        agent_id: "bot-1",
        action,
        decision: "DENY",
        reasons: [{ code: "X" }],
        policy_trace: { checks: [] },
      }),
    "counterparty isKnown (uncached miss)": () => counterparties.isKnown(ORG, manifest.uapk_id, `new-${n++}@x.com`),
    "api key verify": () => apiKeys.verify(key),
  };
}

const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

const dirs = checkouts.map(() => mkdtempSync(join(tmpdir(), "gh-store-bench-")));
const suites = await Promise.all(checkouts.map((root, i) => linesOf(root, dirs[i]!)));
// BENCH_LINES=budget,audit times only the lines whose name contains one of the words.
const only = process.env.BENCH_LINES?.split(",");
for (const name of Object.keys(suites[0]!).filter((n) => !only || only.some((word) => n.includes(word)))) {
  const perCall = suites.map(() => [] as number[]);
  for (const lines of suites) for (let i = 0; i < Math.min(200, iterations); i++) lines[name]!(); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [s, lines] of suites.entries()) {
      const call = lines[name]!;
      const start = cpuMicros();
      for (let i = 0; i < iterations; i++) call();
      perCall[s]!.push((cpuMicros() - start) / iterations);
    }
  }
  const cells = perCall.map((values) => {
    values.sort((a, b) => a - b);
    const median = values[Math.floor(values.length / 2)]!;
    return `${median.toFixed(2).padStart(8)} (min ${values[0]!.toFixed(2).padStart(7)})`;
  });
  console.log(`${name.padEnd(38)} ${cells.join("  ")}`);
}
console.log(`µs CPU per call, median (min) of ${rounds} rounds of ${iterations}; columns: ${checkouts.join("  ")}`);
for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
