// Adversarial (class 6, CPU bounded): an agent that leaves 10,000 approvals pending must not make every later
// create / read / list walk all of them to find the overdue ones. Expiry goes through the (status, expires_at)
// indexes of migration 0005, one call expires at most EXPIRY_BATCH approvals, and a timer catches up.
import { describe, expect, it } from "vitest";
import { openMigratedDatabase } from "../store/test-support";
import type { Db } from "../store/sqlite";
import { createApprovalStore, EXPIRY_BATCH, expirySql } from "./approvals";
import type { ApprovalBinding } from "./binding";

const ORG = "org-scale";
const PENDING = 10_000;

const request = (i: number): ApprovalBinding => ({
  uapk_id: "bot",
  agent_id: "bot",
  action: { type: "email", tool: "send", params: { to: `user${i}@acme.com` } },
});

function plan(db: Db, sql: string, params: Record<string, string>): string {
  return db
    .prepare<Record<string, string>, { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
    .all(params)
    .map((row) => row.detail)
    .join("\n");
}

/** Inserts `n` pending approvals in one transaction (the store's create, not raw SQL). */
function fill(store: ReturnType<typeof createApprovalStore>, db: Db, n: number, ttl_ms: number) {
  db.transaction(() => {
    for (let i = 0; i < n; i++) store.create({ org_id: ORG, ...request(i), reasons: [], ttl_ms });
  })();
}

describe("pending-approval expiry does not scan", () => {
  it("the probe and the sweep search the expiry index; neither scans the approvals table", async () => {
    const db = await openMigratedDatabase(":memory:");
    const store = createApprovalStore(db, { expirySweepMs: 0 });
    fill(store, db, PENDING, 60_000);
    db.exec("ANALYZE");
    const params = { now: new Date().toISOString(), org_id: ORG };
    for (const scope of ["org", "all"] as const) {
      for (const sql of Object.values(expirySql(scope))) {
        const detail = plan(db, sql, params);
        expect(detail, sql).toMatch(/USING (COVERING )?INDEX approvals_open_expiry/);
        expect(detail, sql).not.toMatch(/SCAN approvals\b(?! USING)/);
      }
    }
    store.close();
  });

  it("with 10,000 pending, create / get / list cost what they cost with 100 (no per-call walk of the pending)", async () => {
    // A ratio, not a wall-clock bound: a shared test machine slows both stores alike, a scan slows only the big one.
    const timeCalls = async (pending: number) => {
      const db = await openMigratedDatabase(":memory:");
      const store = createApprovalStore(db, { expirySweepMs: 0 });
      fill(store, db, pending, 60 * 60_000);
      const one = store.list(ORG, { limit: 1 })[0]!;
      let next = pending;
      const round = () => {
        const started = performance.now();
        for (let i = 0; i < 100; i++) {
          store.create({ org_id: ORG, ...request(next++), reasons: [] });
          store.get(ORG, one.approval_id);
          store.list(ORG, { status: "pending", limit: 10 });
        }
        return performance.now() - started;
      };
      return { round, close: () => store.close() };
    };
    const small = await timeCalls(100);
    const large = await timeCalls(PENDING);
    const smallTimes: number[] = [];
    const largeTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      smallTimes.push(small.round());
      largeTimes.push(large.round());
    }
    small.close();
    large.close();
    // Best of five each: scheduler noise only ever adds time.
    expect(Math.min(...largeTimes)).toBeLessThan(4 * Math.min(...smallTimes) + 5);
  });

  it("a burst of overdue approvals: one call expires at most a batch, the read one is current, the timer the rest", async () => {
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const db = await openMigratedDatabase(":memory:");
    const expiredSeen: string[] = [];
    const store = createApprovalStore(db, { now: () => new Date(clock), expirySweepMs: 0 });
    store.onDecided((a) => expiredSeen.push(a.approval_id));
    fill(store, db, 1_000, 1_000);
    const target = store.list(ORG, { limit: 500 }).at(-1)!;
    clock += 2_000;

    expect(store.get(ORG, target.approval_id)?.status).toBe("expired");
    // One batch for the org, plus the approval that was read.
    expect(expiredSeen.length).toBeLessThanOrEqual(EXPIRY_BATCH + 1);
    expect(expiredSeen).toContain(target.approval_id);
    expect(new Set(expiredSeen).size).toBe(expiredSeen.length);

    // The gateway-wide sweep (what the timer runs) catches up with everything, each approval exactly once.
    while (store.expireOverdue() > 0);
    expect(expiredSeen.length).toBe(1_000);
    expect(new Set(expiredSeen).size).toBe(1_000);
    expect(store.list(ORG, { status: "pending" })).toEqual([]);
    store.close();
  });

  it("the timer expires overdue approvals of an org nobody reads", async () => {
    let clock = Date.now();
    const db = await openMigratedDatabase(":memory:");
    const store = createApprovalStore(db, { now: () => new Date(clock), expirySweepMs: 20 });
    const expired: string[] = [];
    store.onDecided((a) => a.status === "expired" && expired.push(a.approval_id));
    fill(store, db, EXPIRY_BATCH * 2 + 5, 1_000);
    clock += 2_000;
    await expect.poll(() => expired.length, { timeout: 5_000 }).toBe(EXPIRY_BATCH * 2 + 5);
    store.close();
  });
});
