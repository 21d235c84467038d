// `make bench`, shadow replay line: how many recorded actions per second a candidate manifest is decided against
// (goal ≥ 10,000/s, so a CI step over a day of history takes seconds). A short run: 1,000 actions (a mix of ALLOW,
// DENY and ESCALATE with recipients and a budget) are executed through the governance engine into a temporary
// SQLite file, their records copied up to BENCH_REPLAY_ACTIONS (default 20000; copies get their own seq and
// interaction id — a replay reads records, it does not verify the chain), then replayed with a tightened
// candidate, in-process.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApprovalStore } from "../src/core/approvals";
import { createAuditLog } from "../src/core/audit";
import { createGovernanceEngine } from "../src/core/governance";
import { createShadowReplay } from "../src/core/governance/replay";
import { sqliteAuditHistory } from "../src/core/governance/sqlite-history";
import type { ManifestInput } from "../src/core/policy/types";
import { openMigratedDatabase } from "../src/core/store/test-support";

const ACTIONS = Number(process.env.BENCH_REPLAY_ACTIONS ?? 20_000);
const GOAL = 10_000;
const ORG = "bench-org";

const manifest: ManifestInput = {
  uapk_id: "replay-bench-bot",
  agent: { id: "replay-bench-bot", name: "Replay Bench Bot" },
  capabilities: ["email:send", "crm:read", "crm:delete"],
  constraints: { max_actions_per_hour: 1_000_000_000, require_human_approval: ["crm:delete"] },
  policy: { counterparty_blocklist: ["*@blocked.example"] },
  tools: {
    "email:send": { connector: { type: "noop" } },
    "crm:read": { connector: { type: "noop" }, recipient_params: ["owner"] },
    "crm:delete": { connector: { type: "noop" }, recipient_params: ["owner"] },
  },
};

function actionOf(i: number) {
  if (i % 10 === 9) return { type: "crm", tool: "delete", params: { id: i, owner: "ann@acme.example" } };
  if (i % 10 === 8) return { type: "email", tool: "send", params: { to: `x${i}@blocked.example`, subject: "Hi" } };
  if (i % 2 === 0) return { type: "crm", tool: "read", params: { id: i, owner: "ann@acme.example" } };
  return { type: "email", tool: "send", params: { to: `c${i % 50}@acme.example`, subject: "Hello", body: "…" } };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-replay-"));
  const db = await openMigratedDatabase(join(dir, "gatehouse.db"));
  try {
    const audit = createAuditLog(db);
    const approvals = createApprovalStore(db, { pollIntervalMs: 60_000 });
    const engine = createGovernanceEngine({ db, audit, approvals });
    const registered = engine.manifests.register(ORG, manifest, "bench");
    const executed = Math.min(ACTIONS, 1000);
    const seeding = performance.now();
    for (let i = 0; i < executed; i++)
      await engine.execute(ORG, { uapk_id: manifest.uapk_id, agent_id: manifest.agent.id, action: actionOf(i) });
    const seeded = performance.now() - seeding;
    copyRecords(db, Math.ceil(ACTIONS / executed));

    const history = sqliteAuditHistory(db, audit);
    const replay = createShadowReplay({ history, manifests: engine.manifests, tokens: engine.tokens, approvals });
    const candidate: ManifestInput = {
      ...manifest,
      constraints: { max_actions_per_hour: 1_000_000_000, require_human_approval: ["crm:delete", "email:send"] },
    };
    await replay(ORG, registered.manifest_id, { candidate, limit: 100 }); // warm-up
    const profiling = process.env.BENCH_REPLAY_PROFILE ? await startProfile() : undefined;
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const report = await replay(ORG, registered.manifest_id, { candidate, limit: ACTIONS });
    const cpu = process.cpuUsage(cpuBefore);
    const seconds = (performance.now() - started) / 1000;
    await profiling?.();
    const rate = Math.round(report.replayed / seconds);
    // CPU time as well as wall time: on a shared machine the wall clock measures the other processes too.
    const cpuRate = Math.round(report.replayed / ((cpu.user + cpu.system) / 1e6));
    const fmt = (n: number) => n.toLocaleString("en");
    console.log(
      `gatehouse shadow replay: ${report.replayed} recorded actions in ${(seconds * 1000).toFixed(0)} ms = ${fmt(rate)} actions/s wall, ${fmt(cpuRate)} actions per CPU-second (goal ≥ ${fmt(GOAL)}/s: ${Math.max(rate, cpuRate) >= GOAL ? "met" : "NOT met"}${rate < GOAL && cpuRate >= GOAL ? " on CPU time; the wall clock shares the machine" : ""}); ${report.changed} changed; seeded through execute at ${fmt(Math.round(executed / (seeded / 1000)))} actions/s`,
    );
    approvals.close();
    if (Math.max(rate, cpuRate) < GOAL) process.exitCode = 1;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The org's records `times` over: each copy after the last seq, with its own interaction ids. */
function copyRecords(db: Awaited<ReturnType<typeof openMigratedDatabase>>, times: number): void {
  const last = db
    .prepare<[string], { seq: number }>("SELECT MAX(seq) AS seq FROM audit_records WHERE org_id = ?")
    .get(ORG)!.seq;
  const columns =
    "kind, timestamp, uapk_id, agent_id, action, decision, reasons, policy_trace, approval_id, executed, result, meta, prev_hash, kid, hash, signature";
  const copy = db.prepare(
    `INSERT INTO audit_records (org_id, seq, interaction_id, ${columns})
     SELECT org_id, seq + ?, interaction_id || ?, ${columns} FROM audit_records WHERE org_id = ? AND seq <= ?`,
  );
  db.transaction(() => {
    for (let k = 1; k < times; k++) copy.run(k * last, `-copy-${k}`, ORG, last);
  })();
}

/** BENCH_REPLAY_PROFILE=file.cpuprofile: a CPU profile of the measured replay only. */
async function startProfile(): Promise<() => Promise<void>> {
  const { Session } = await import("node:inspector/promises");
  const { writeFileSync } = await import("node:fs");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(process.env.BENCH_REPLAY_PROFILE!, JSON.stringify(profile));
    session.disconnect();
  };
}

await main();
