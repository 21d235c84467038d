// The embedded audit log's Kysely-built statements keep the query plans the hand-written SQL had.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../store/sqlite";
import { withIndexedBy } from "../store/sqlite-query";
import { openMigratedDatabase } from "../store/test-support";
import { auditStatements } from "./audit-statements";

const plan = (db: Db, sql: string) =>
  (
    db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(
      ...sql
        .split("?")
        .slice(1)
        .map(() => "x"),
    ) as { detail: string }[]
  )
    .map((r) => r.detail)
    .join("; ");

describe("audit statements (SQLite)", () => {
  let db: Db;
  beforeEach(async () => {
    db = await openMigratedDatabase();
  });
  afterEach(() => db.close());

  it("reads an interaction's records through the interaction index, without a sort (INDEXED BY)", () => {
    const statements = auditStatements(db);
    for (const query of [statements.interaction, statements.interactionKinds]) {
      expect(query.sql).toContain('from "audit_records" indexed by "audit_records_interaction"');
      const detail = plan(db, query.sql);
      expect(detail).toContain("USING INDEX audit_records_interaction");
      expect(detail).not.toContain("TEMP B-TREE");
    }
  });

  it("reads the chain head by primary key", () => {
    expect(plan(db, auditStatements(db).head.sql)).toMatch(/USING PRIMARY KEY|USING INDEX sqlite_autoindex/);
  });

  it("refuses an INDEXED BY hint for a table the query does not read once", () => {
    expect(() => withIndexedBy('select 1 from "manifests"', { table: "audit_records", index: "x" })).toThrow();
  });
});
