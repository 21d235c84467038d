// On SQLite the audit log becomes an ordinary (rowid) table. It was WITHOUT ROWID, keyed by (org_id, seq): there a
// row lives in an index b-tree, where SQLite keeps at most ~1,000 bytes of a row on its page (an intent record,
// with its policy trace, is ~1.3 KB: every one spilled onto an overflow page of its own), and where appending
// at the right edge splits pages half full (the "quick balance" of rowid tables that keeps appended pages full
// does not apply). Measured on 64-execute groups of intent + outcome records: 2,720 → 1,145 bytes of database
// per record, and each group commit writes that many fewer pages to the WAL.
//
// The key stays (org_id, seq), now a unique index. Rows are copied in chain order, so rowid order is chain
// order. The interaction index gains `seq`, so an interaction's records still come out in chain order without a
// sort (in a WITHOUT ROWID table every index ended with the primary key). Rebuilt the way 0002 rebuilt the
// approvals table, inside the migration's transaction; the copy is one pass over the existing records.
// PostgreSQL has no such storage option (its table is a heap already): nothing to do there.
import { type Kysely, sql } from "kysely";
import { isSqlite } from "./dialect";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

const WITHOUT_ROWID = /\)\s*without\s+rowid\s*$/i;

export async function up(db: AnyDb): Promise<void> {
  if (!isSqlite(db)) return;
  const table = await storedTableDefinition(db);
  if (table === undefined) throw new Error("audit_records table not found");
  if (!WITHOUT_ROWID.test(table)) return; // already a rowid table
  const next = table
    .replace(/^CREATE TABLE\s+("?)audit_records\1/i, 'CREATE TABLE "audit_records_next"')
    .replace(WITHOUT_ROWID, ")");
  await sql.raw(next).execute(db);
  await sql`INSERT INTO audit_records_next SELECT * FROM audit_records ORDER BY org_id, seq`.execute(db);
  await db.schema.dropTable("audit_records").execute();
  await sql`ALTER TABLE audit_records_next RENAME TO audit_records`.execute(db);
  await db.schema
    .createIndex("audit_records_interaction")
    .on("audit_records")
    .columns(["org_id", "interaction_id", "seq"])
    .execute();
  await db.schema
    .createIndex("audit_records_agent")
    .on("audit_records")
    .columns(["org_id", "agent_id", "seq"])
    .execute();
}

/** The CREATE TABLE statement SQLite keeps for the audit log. */
async function storedTableDefinition(db: AnyDb): Promise<string | undefined> {
  const { rows } = await sql<{ sql: string }>`
    SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_records'
  `.execute(db);
  return rows[0]?.sql;
}
