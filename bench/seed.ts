// State for the state-growth lines of `make bench`, created inside the Gatehouse target process after start-up
// and before the load, through the embedded stores themselves (not thousands of HTTP requests):
//   BENCH_SEED_APPROVALS=n  n pending approvals of the bench agent (distinct bindings, 24 h to live)
//   BENCH_SEED_AUDIT=n      about n audit records: 100 real executes, their records copied up to n
//   BENCH_SEED_MANIFESTS=n  n more manifests in the org, besides the bench one
// The org is the API key's (the default org). SQLite only: the PostgreSQL lines seed nothing.
import type { Gatehouse } from "../src/server";

type Embedded = NonNullable<Gatehouse["embedded"]>;
type Db = Embedded["db"];

export const BENCH_UAPK = "bench-bot";

/** Seeds what the environment asks for; returns a one-line summary (empty when nothing was asked). */
export async function seedFromEnv(gatehouse: Gatehouse, org: string, env = process.env): Promise<string> {
  const approvals = Number(env.BENCH_SEED_APPROVALS ?? 0);
  const audit = Number(env.BENCH_SEED_AUDIT ?? 0);
  const manifests = Number(env.BENCH_SEED_MANIFESTS ?? 0);
  if (!approvals && !audit && !manifests) return "";
  const embedded = gatehouse.embedded;
  if (!embedded) throw new Error("bench seeding needs the embedded SQLite store");
  const started = performance.now();
  if (manifests) seedManifests(embedded, org, manifests);
  if (approvals) seedApprovals(embedded, org, approvals);
  if (audit) await seedAudit(embedded, org, audit);
  const counts = embedded.db
    .prepare<[string, string, string], { approvals: number; records: number; manifests: number }>(
      `SELECT (SELECT COUNT(*) FROM approvals WHERE org_id = ? AND status = 'pending') AS approvals,
              (SELECT COUNT(*) FROM audit_records WHERE org_id = ?) AS records,
              (SELECT COUNT(*) FROM manifests WHERE org_id = ?) AS manifests`,
    )
    .get(org, org, org)!;
  return `seeded in ${((performance.now() - started) / 1000).toFixed(1)} s: ${counts.approvals} pending approvals, ${counts.records} audit records, ${counts.manifests} manifests`;
}

/** Pending approvals of the bench agent, each for its own recipient (one pending approval per binding). */
function seedApprovals({ db, approvals }: Embedded, org: string, n: number): void {
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      approvals.create({
        org_id: org,
        uapk_id: BENCH_UAPK,
        agent_id: BENCH_UAPK,
        action: { type: "email", tool: "send", params: { to: `pending-${i}@example.com`, subject: "Hello" } },
        reasons: [{ code: "REQUIRES_APPROVAL", message: "Action 'email:send' requires human approval" }],
      });
    }
  })();
}

/** Other agents' manifests in the same org: what a decision must not get slower with. */
function seedManifests({ db, engine }: Embedded, org: string, n: number): void {
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = `bench-other-${String(i).padStart(4, "0")}`;
      engine.manifests.register(
        org,
        {
          uapk_id: id,
          agent: { id, name: `Other ${i}` },
          capabilities: ["email:send", "crm:read"],
          constraints: { max_actions_per_hour: 1000 },
          tools: { "email:send": { connector: { type: "noop" } }, "crm:read": { connector: { type: "noop" } } },
        },
        "bench",
      );
    }
  })();
}

/**
 * Real signed records from executes of the bench agent, then copies of them (after the last seq, with their own
 * interaction ids) up to about `n`: the table and its indexes at that size. The chain is not valid across the
 * copies (nothing here verifies it); new appends link to the last copy as to any head.
 */
async function seedAudit({ db, engine }: Embedded, org: string, n: number): Promise<void> {
  const executes = Math.min(100, n);
  // 50 at a time, as concurrent requests would come: their appends share group commits.
  for (let i = 0; i < executes; i += 50) {
    const batch = Array.from({ length: Math.min(50, executes - i) }, (_, j) =>
      engine.execute(org, {
        uapk_id: BENCH_UAPK,
        agent_id: BENCH_UAPK,
        action: { type: "email", tool: "send", params: { to: `seed-${i + j}@example.com`, subject: "Hello" } },
      }),
    );
    await Promise.all(batch);
  }
  await new Promise<void>((ok) => setImmediate(ok)); // the last group commit
  copyRecords(db, org, n);
}

function copyRecords(db: Db, org: string, n: number): void {
  const last = db
    .prepare<[string], { seq: number | null }>("SELECT MAX(seq) AS seq FROM audit_records WHERE org_id = ?")
    .get(org)!.seq;
  if (!last) throw new Error("no audit records to copy: the seeding executes wrote none");
  const columns =
    "kind, timestamp, uapk_id, agent_id, action, decision, reasons, policy_trace, approval_id, executed, result, meta, prev_hash, kid, hash, signature";
  const copy = db.prepare(
    `INSERT INTO audit_records (org_id, seq, interaction_id, ${columns})
     SELECT org_id, seq + ?, interaction_id || ?, ${columns} FROM audit_records WHERE org_id = ? AND seq <= ?`,
  );
  db.transaction(() => {
    for (let k = 1; k < Math.ceil(n / last); k++) copy.run(k * last, `-copy-${k}`, org, last);
  })();
}
