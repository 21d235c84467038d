// CPU per call of the embedded SQLite stores on the governed-action hot path (manifest read, budget counters,
// idempotency, audit append, known counterparties, API key), measured in-process with process.cpuUsage() — a
// focused micro-benchmark of the store calls, not a load test (the machine may be shared: it runs a few thousand
// calls per line, several rounds, and prints the median).
//   npx tsx bench/store-hot-path.ts [iterations=2000] [rounds=5]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog, newInteractionId } from "../src/core/audit/audit-log";
import { createApiKeyStore } from "../src/core/identity/api-keys";
import { createIdempotencyStore } from "../src/core/idempotency/idempotency";
import { BudgetCounters } from "../src/core/policy/budget-counters";
import { KnownCounterparties } from "../src/core/policy/known-counterparties";
import { ManifestRepository } from "../src/core/policy/manifest-repository";
import { ORG, supportBot } from "../src/core/policy/test-fixtures";
import { openMigratedDatabase } from "../src/core/store/test-support";

const iterations = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 5);

const dir = mkdtempSync(join(tmpdir(), "gh-store-bench-"));
const db = await openMigratedDatabase(join(dir, "bench.db"));
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

const lines: Record<string, () => void> = {
  "execute (all of the below, in order)": request,
  "manifest getByUapkId (cached)": () => manifests.getByUapkId(ORG, manifest.uapk_id),
  "manifest get by id (read + parse)": () => manifests.get(ORG, manifest.manifest_id),
  "budget current (uncached read)": () => budgets.current(`cold:${n++}`, window),
  "budget tryConsume (2 slots)": () =>
    budgets.tryConsume([
      { scope: "a", window, limit: 1e9 },
      { scope: "b", window: 0, limit: 1e9 },
    ]),
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

const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

for (const [name, call] of Object.entries(lines)) {
  for (let i = 0; i < Math.min(200, iterations); i++) call(); // warm-up (JIT, statement caches)
  const perCall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = cpuMicros();
    for (let i = 0; i < iterations; i++) call();
    perCall.push((cpuMicros() - start) / iterations);
  }
  perCall.sort((a, b) => a - b);
  const median = perCall[Math.floor(perCall.length / 2)]!;
  console.log(
    `${name.padEnd(40)} ${median.toFixed(2).padStart(8)} µs CPU/call  (min ${perCall[0]!.toFixed(2)}, max ${perCall.at(-1)!.toFixed(2)})`,
  );
}
db.close();
rmSync(dir, { recursive: true, force: true });
