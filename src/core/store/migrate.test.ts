import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createApiKeyStore } from "../identity/api-keys";
import { createAuditLog } from "../audit/audit-log";
import { KnownCounterparties } from "../policy/known-counterparties";
import { ManifestRepository } from "../policy/manifest-repository";
import { migrateToLatest } from "./migrate";
import { MIGRATIONS } from "./migrations";
import { type Db, openDatabase } from "./sqlite";
import { STORE_TABLES as TABLES } from "./test-support";

/** Every index the stores use, as the code before migrations created them (the tables: STORE_TABLES). */
const INDEXES = [
  "approvals_one_pending_per_binding",
  "approvals_open_expiry",
  "approvals_open_expiry_org",
  "approvals_org_status",
  "audit_records_agent",
  "audit_records_interaction",
  "capability_tokens_org",
  "idempotency_keys_expiry",
  "idempotency_keys_owner",
  "signing_keys_one_active_per_purpose",
  "webhook_deliveries_due",
  "webhook_deliveries_org",
  "webhooks_org",
];

/** A database file written by the last version whose stores created their own tables (see fixtures/). */
const PRE_MIGRATIONS_DB = join(import.meta.dirname, "migrations", "fixtures", "pre-migrations.db");
const FIXTURE_API_KEY = "gh_7_2XVdAypmrPIrsh-MMAI8H71h6gNshJ";

function schemaOf(db: Db): { type: string; name: string; sql: string }[] {
  return db
    .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
    .all() as { type: string; name: string; sql: string }[];
}
const namesOf = (db: Db, type: "table" | "index") =>
  schemaOf(db)
    .filter((o) => o.type === type && !o.name.startsWith("kysely_"))
    .map((o) => o.name);

const tmpDirs: string[] = [];
afterEach(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function copyOfPreMigrationsDb(): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-migrate-"));
  tmpDirs.push(dir);
  const file = join(dir, "gatehouse.db");
  copyFileSync(PRE_MIGRATIONS_DB, file);
  return file;
}

describe("migrations", () => {
  it("give a fresh database every table and index the stores use", async () => {
    const db = openDatabase(":memory:");
    expect(namesOf(db, "table")).toEqual([]);
    expect(await migrateToLatest(db)).toEqual(Object.keys(MIGRATIONS));
    expect(namesOf(db, "table")).toEqual(TABLES);
    expect(namesOf(db, "index")).toEqual(INDEXES);
  });

  it("keep the constraints the stores rely on (one pending approval per binding, closed status sets)", async () => {
    const db = openDatabase(":memory:");
    await migrateToLatest(db);
    const approval = (id: string, status: string) =>
      db
        .prepare(
          `INSERT INTO approvals (approval_id, org_id, uapk_id, agent_id, action, reasons, binding_hash, status, created_at, expires_at)
           VALUES (?, 'o', 'u', 'a', '{}', '[]', 'same-binding', ?, 't', 't')`,
        )
        .run(id, status);
    approval("appr-1", "pending");
    expect(() => approval("appr-2", "pending")).toThrow(/UNIQUE/);
    approval("appr-3", "approved");
    expect(() => approval("appr-4", "maybe")).toThrow(/CHECK/);
  });

  it("are a no-op the second time", async () => {
    const db = openDatabase(":memory:");
    await migrateToLatest(db);
    const before = schemaOf(db);
    expect(await migrateToLatest(db)).toEqual([]);
    expect(schemaOf(db)).toEqual(before);
  });

  it("open a database made before migrations existed without changing its tables, and keep its data", async () => {
    const file = copyOfPreMigrationsDb();
    const old = openDatabase(file);
    const tablesBefore = schemaOf(old).filter((o) => !o.name.startsWith("kysely_"));
    // Added by later migrations: 0003 manifest_versions, 0004 the webhook tables, 0005 the expiry indexes, 0007
    // the idempotency owner index, 0010 store_meta.
    const added = (name: string) =>
      name === "manifest_versions" ||
      name === "store_meta" ||
      name.startsWith("webhook") ||
      name.startsWith("approvals_open_expiry") ||
      name === "idempotency_keys_owner";
    expect(tablesBefore.map((o) => o.name)).toEqual(
      expect.arrayContaining([...TABLES, ...INDEXES].filter((name) => !added(name))),
    );

    expect(await migrateToLatest(old)).toEqual(Object.keys(MIGRATIONS));
    // Unchanged except the approvals table, which 0002 rebuilt with the `cancelled` status (same columns, indexes),
    // manifests, which 0003 rebuilt keyed by (org_id, manifest_id) with a version, the audit log, which 0006 made
    // a rowid table, idempotency_keys, which 0007 gave lease columns, capability_tokens, which 0011 gave
    // issued_by and revoked_by, and the tables added since.
    const rebuilt = [
      "approvals",
      "manifest",
      "sqlite_autoindex_manifest",
      "audit_records",
      "idempotency_keys",
      "capability_tokens",
    ];
    const untouched = (o: { name: string }) =>
      !o.name.startsWith("kysely_") && !rebuilt.some((r) => o.name.startsWith(r)) && !added(o.name);
    expect(schemaOf(old).filter(untouched)).toEqual(tablesBefore.filter(untouched));
    expect(schemaOf(old).find((o) => o.name === "approvals")?.sql).toContain("'cancelled'");
    expect(schemaOf(old).find((o) => o.name === "manifests")?.sql).toMatch(/primary key \("org_id", "manifest_id"\)/i);
    expect(schemaOf(old).find((o) => o.name === "audit_records")?.sql).not.toMatch(/without rowid/i);
    expect(schemaOf(old).find((o) => o.name === "idempotency_keys")?.sql).toMatch(
      /"owner".*"lease_until".*"interaction_id"/,
    );
    expect(schemaOf(old).find((o) => o.name === "capability_tokens")?.sql).toMatch(/"issued_by".*"revoked_by"/);
    expect(tablesBefore.map((o) => o.name).sort()).toEqual(
      schemaOf(old)
        .filter((o) => !o.name.startsWith("kysely_") && !added(o.name))
        .map((o) => o.name)
        .sort(),
    );

    const apiKeys = createApiKeyStore(old, {
      secret: Buffer.from("fixture-secret"),
      envKeys: [],
      defaultOrg: "org-acme",
    });
    expect(apiKeys.verify(FIXTURE_API_KEY)?.orgId).toBe("org-acme");
    const manifests = new ManifestRepository(old);
    const kept = manifests.getByUapkId("org-acme", "customer-support-bot");
    expect(kept?.status).toBe("active");
    // Each existing manifest became its version 1, with its content.
    expect(manifests.versions("org-acme", kept!.manifest_id)).toMatchObject([
      { version: 1, change: "registered", author: "migration", content_hash: kept!.content_hash },
    ]);
    expect(new KnownCounterparties(old).isKnown("org-acme", "customer-support-bot", "customer@example.com")).toBe(true);
    const audit = createAuditLog(old);
    expect(await audit.verifyChain("org-acme")).toEqual({ valid: true, records: 2, orgs: 1 });
  });
});
