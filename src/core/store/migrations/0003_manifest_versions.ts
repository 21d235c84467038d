// Manifests get versions, and their ids become per-org.
//
// 1. `manifests` is keyed by (org_id, manifest_id) instead of manifest_id alone: two orgs may choose the same id,
//    and one org can neither squat another's id nor learn that it exists (a taken id used to answer 409).
//    It also gains `version`, the number of its latest version.
// 2. `manifest_versions`: one row per change of a manifest (registration, new body, status change) with the
//    content (the body as submitted), its RFC 8785 SHA-256 `content_hash`, who made the change and when. A
//    decision records the version it used (policy trace), so an auditor can fetch exactly that content.
//
// PostgreSQL swaps the primary key in place; SQLite cannot, so the table is rebuilt inside the migration's
// transaction (same columns plus `version`, rows copied). Existing manifests get version 1 from their body.
import { type Kysely, sql } from "kysely";
import { sha256Canonical } from "../../audit/canonical";
import { isSqlite } from "./dialect";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

const STATUSES = ["active", "suspended", "revoked"];
const statusCheck = sql`${sql.ref("status")} IN (${sql.join(STATUSES.map((v) => sql.lit(v)))})`;

export async function up(db: AnyDb): Promise<void> {
  if (isSqlite(db)) await rebuildManifestsSqlite(db);
  else {
    await sql`ALTER TABLE manifests DROP CONSTRAINT IF EXISTS manifests_pkey`.execute(db);
    await sql`ALTER TABLE manifests ADD CONSTRAINT manifests_pkey PRIMARY KEY (org_id, manifest_id)`.execute(db);
    await db.schema
      .alterTable("manifests")
      .addColumn("version", "integer", (c) => c.notNull().defaultTo(1))
      .execute();
  }
  await db.schema
    .createTable("manifest_versions")
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("manifest_id", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("content_hash", "text", (c) => c.notNull())
    .addColumn("content", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(statusCheck))
    .addColumn("change", "text", (c) => c.notNull())
    .addColumn("author", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("manifest_versions_pk", ["org_id", "manifest_id", "version"])
    .execute();
  await backfillVersions(db);
}

async function rebuildManifestsSqlite(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("manifests_next")
    .addColumn("manifest_id", "text", (c) => c.notNull())
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("uapk_id", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(statusCheck))
    .addColumn("body", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull().defaultTo(1))
    .addPrimaryKeyConstraint("manifests_pk", ["org_id", "manifest_id"])
    .addUniqueConstraint("manifests_org_uapk", ["org_id", "uapk_id"])
    .execute();
  await sql`INSERT INTO manifests_next (manifest_id, org_id, uapk_id, status, body, created_at, updated_at, version)
            SELECT manifest_id, org_id, uapk_id, status, body, created_at, updated_at, 1 FROM manifests`.execute(db);
  await db.schema.dropTable("manifests").execute();
  await sql`ALTER TABLE manifests_next RENAME TO manifests`.execute(db);
}

/** Version 1 of every manifest that exists: its current body, by "migration". */
async function backfillVersions(db: AnyDb): Promise<void> {
  const rows = await db.selectFrom("manifests").selectAll().execute();
  for (const row of rows) {
    await db
      .insertInto("manifest_versions")
      .values({
        org_id: row.org_id,
        manifest_id: row.manifest_id,
        version: 1,
        content_hash: sha256Canonical(JSON.parse(row.body as string)),
        content: row.body,
        status: row.status,
        change: "registered",
        author: "migration",
        created_at: row.updated_at,
      })
      .execute();
  }
}
