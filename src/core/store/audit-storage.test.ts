// Migration 0006: the SQLite audit log is a rowid table (see migrations/0006_audit_records_rowid.ts for why). An
// existing chain survives the rebuild record for record, appends go on from its head, an interaction's records
// are read through the interaction index without a sort, and a record costs about its own size on disk.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createAuditLog, newInteractionId, type AuditLog } from "../audit/audit-log";
import { migrateToLatest, migratorOver } from "./migrate";
import { type Db, openDatabase } from "./sqlite";

const ORG = "org-acme";
/** A policy trace the size of a real one (nine checks with their details): the intent record is ~1.3 KB. */
const policy_trace = {
  checks: Array.from({ length: 9 }, (_, i) => ({
    check: `check_${i}`,
    result: "pass",
    details: { manifest_hash: "ab".repeat(32) },
  })),
};

function execute(log: AuditLog, interaction_id = newInteractionId()): string {
  const action = { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hello" } };
  log.appendIntent({
    org_id: ORG,
    interaction_id,
    uapk_id: "bench-bot",
    agent_id: "bench-bot",
    action,
    decision: "ALLOW",
    reasons: [],
    policy_trace,
  });
  log.appendOutcome({ org_id: ORG, interaction_id, executed: true, result: { success: true } });
  return interaction_id;
}

const tableSql = (db: Db) =>
  (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'audit_records'").get() as { sql: string }).sql;

async function migrateTo(db: Db, name: string): Promise<void> {
  const { error } = await migratorOver(db).migrateTo(name);
  if (error) throw error;
}

describe("the SQLite audit log's storage (migration 0006)", () => {
  it("keeps every record of a WITHOUT ROWID chain, in order, and the chain goes on verifying", async () => {
    const db = openDatabase(":memory:");
    await migrateTo(db, "0005_approval_expiry_index");
    expect(tableSql(db)).toMatch(/without rowid/i);
    const log = createAuditLog(db);
    const interactions = Array.from({ length: 50 }, () => execute(log));
    const before = db.prepare("SELECT * FROM audit_records ORDER BY org_id, seq").all();

    expect(await migrateToLatest(db)).toContain("0006_audit_records_rowid");
    expect(tableSql(db)).not.toMatch(/without rowid/i);
    expect(db.prepare("SELECT * FROM audit_records ORDER BY org_id, seq").all()).toEqual(before);
    // Rowid order is chain order.
    const seqs = db.prepare("SELECT seq FROM audit_records ORDER BY rowid").pluck().all();
    expect(seqs).toEqual(before.map((_, i) => i + 1));

    const after = createAuditLog(db);
    const last = execute(after);
    expect(after.head(ORG)?.seq).toBe(102);
    expect(await after.verifyChain(ORG)).toEqual({ valid: true, records: 102, orgs: 1 });
    expect(after.getInteraction(ORG, interactions[7]!).map((r) => r.kind)).toEqual(["intent", "outcome"]);
    expect(after.getInteraction(ORG, last).map((r) => r.seq)).toEqual([101, 102]);
  });

  it("still refuses a second record at the same place of a chain", async () => {
    const db = openDatabase(":memory:");
    await migrateToLatest(db);
    execute(createAuditLog(db));
    expect(() => db.prepare("INSERT INTO audit_records SELECT * FROM audit_records WHERE seq = 1").run()).toThrow(
      /UNIQUE/,
    );
  });

  it("reads an interaction's records through its index, already in chain order", async () => {
    const db = openDatabase(":memory:");
    await migrateToLatest(db);
    const plan = db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT kind FROM audit_records INDEXED BY audit_records_interaction
         WHERE org_id = ? AND interaction_id = ? ORDER BY seq`,
      )
      .all(ORG, "int-1") as { detail: string }[];
    expect(plan.map((p) => p.detail).join("; ")).toMatch(/USING INDEX audit_records_interaction/);
    expect(plan.map((p) => p.detail).join("; ")).not.toMatch(/TEMP B-TREE/);
  });

  it("takes about half the disk WITHOUT ROWID took for the same records", async () => {
    const bytesPerRecord = (db: Db) => {
      const log = createAuditLog(db);
      for (let i = 0; i < 1000; i++) execute(log);
      const pages = db.pragma("page_count", { simple: true }) as number;
      return (pages * (db.pragma("page_size", { simple: true }) as number)) / 2000;
    };
    const withoutRowid = openDatabase(":memory:");
    await migrateTo(withoutRowid, "0005_approval_expiry_index");
    const rowid = openDatabase(":memory:");
    await migrateToLatest(rowid);
    const [before, after] = [bytesPerRecord(withoutRowid), bytesPerRecord(rowid)];
    expect(after).toBeLessThan(before * 0.65);
  });

  it("writes a few index pages per group commit, not one per interaction (time-ordered interaction ids)", async () => {
    // The WAL frames (4 KiB pages) one commit of 64 executes writes, on a chain that already holds 10,000 records.
    const framesPerGroup = async (idOf: () => string) => {
      const dir = mkdtempSync(join(tmpdir(), "gatehouse-audit-wal-"));
      try {
        const db = openDatabase(join(dir, "store.db"));
        await migrateToLatest(db);
        const log = createAuditLog(db);
        db.transaction(() => {
          for (let i = 0; i < 5_000; i++) execute(log, idOf());
        })();
        db.pragma("wal_checkpoint(TRUNCATE)");
        db.transaction(() => {
          for (let i = 0; i < 64; i++) execute(log, idOf());
        })();
        // NaN (which fails every comparison below) if SQLite ever answers without a row.
        const frames = (db.pragma("wal_checkpoint(PASSIVE)") as { log: number }[])[0]?.log ?? Number.NaN;
        db.close();
        return frames;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const random = await framesPerGroup(() => `int-${randomUUID()}`);
    const timeOrdered = await framesPerGroup(() => newInteractionId());
    // Both write the table's new pages and the appended edges of the other indexes; random ids also write about one
    // leaf of the interaction index per interaction (measured: 129 frames against 60).
    expect(random).toBeGreaterThan(100);
    expect(timeOrdered).toBeLessThan(random * 0.6);
  });
});
