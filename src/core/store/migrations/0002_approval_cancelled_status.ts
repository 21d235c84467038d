// Approvals gain the `cancelled` status: a pending (or approved, unused) approval whose agent session was
// cancelled or abandoned is resolved as cancelled, so it can never be used afterwards.
//
// The allowed statuses are a CHECK constraint. PostgreSQL swaps the constraint. SQLite cannot alter a CHECK, so
// the table is rebuilt the way SQLite documents it (lang_altertable.html, "making other kinds of table schema
// changes"): a new table from the stored CREATE TABLE with the wider check, rows copied, the old table dropped,
// the new one renamed, the stored indexes created again, all inside the migration's transaction. Starting from
// the stored definition rather than a copy of 0001's keeps the table exactly as this database has it (made by
// 0001, or by the stores before migrations existed) and repeats no DDL.
import { type Kysely, sql } from "kysely";
import { isSqlite } from "./dialect";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

const STATUSES = ["pending", "approved", "denied", "expired", "consumed", "cancelled"];
/** How every stored definition of the approvals table ends its status list (0001's and the older stores'). */
const STATUS_LIST_END = "'consumed')";

export async function up(db: AnyDb): Promise<void> {
  if (!isSqlite(db)) {
    const statusCheck = sql`${sql.ref("status")} IN (${sql.join(STATUSES.map((v) => sql.lit(v)))})`;
    await sql`ALTER TABLE approvals DROP CONSTRAINT IF EXISTS approvals_status_check`.execute(db);
    await sql`ALTER TABLE approvals ADD CONSTRAINT approvals_status_check CHECK (${statusCheck})`.execute(db);
    return;
  }
  const [table] = await storedDefinitions(db, "table");
  const indexes = await storedDefinitions(db, "index");
  if (table === undefined || table.split(STATUS_LIST_END).length !== 2) {
    throw new Error(`approvals table not as expected: its status check does not end with ${STATUS_LIST_END}`);
  }
  const next = table
    .replace(/^CREATE TABLE\s+("?)approvals\1/i, 'CREATE TABLE "approvals_next"')
    .replace(STATUS_LIST_END, "'consumed', 'cancelled')");
  await sql.raw(next).execute(db);
  await sql`INSERT INTO approvals_next SELECT * FROM approvals`.execute(db);
  await db.schema.dropTable("approvals").execute();
  await sql`ALTER TABLE approvals_next RENAME TO approvals`.execute(db);
  for (const index of indexes) await sql.raw(index).execute(db);
}

/** The CREATE statements SQLite keeps for the approvals table or its indexes (not the automatic ones). */
async function storedDefinitions(db: AnyDb, type: "table" | "index"): Promise<string[]> {
  const { rows } = await sql<{ sql: string }>`
    SELECT sql FROM sqlite_master WHERE type = ${type} AND tbl_name = 'approvals' AND sql IS NOT NULL ORDER BY name
  `.execute(db);
  return rows.map((row) => row.sql);
}
