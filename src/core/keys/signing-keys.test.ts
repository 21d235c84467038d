import { createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createAuditLog } from "../audit";
import type { Db } from "../store/sqlite";
import { openMigratedDatabase } from "../store/test-support";
import { createSigningKeyStore } from "./signing-keys";

const message = Buffer.from("an audit record's canonical bytes");

function verifies(store: ReturnType<typeof createSigningKeyStore>, kid: string, signature: Buffer): boolean {
  const key = store.publicKey(kid);
  return key !== undefined && verify(null, message, key, signature);
}

describe("signing key store", () => {
  it("generates a key on first use, keeps using it, and publishes only its public half", async () => {
    const store = createSigningKeyStore(await openMigratedDatabase(":memory:"), { purpose: "audit" });
    expect(store.publicJwks()).toEqual({ keys: [] });
    const first = store.activeKey();
    expect(store.activeKey().kid).toBe(first.kid);
    const jwks = store.publicJwks().keys;
    expect(jwks).toEqual([
      { kty: "OKP", crv: "Ed25519", x: expect.any(String), kid: first.kid, alg: "EdDSA", use: "sig" },
    ]);
    expect(verifies(store, first.kid, sign(null, message, first.privateKey))).toBe(true);
  });

  it("rotation makes the old key verify-only: old signatures verify, new ones use the new key, both published in order", async () => {
    const db = await openMigratedDatabase(":memory:");
    const store = createSigningKeyStore(db, { purpose: "capability-token" });
    const old = store.activeKey();
    const oldSignature = sign(null, message, old.privateKey);
    const { kid, previous_kid } = store.rotate();
    expect(previous_kid).toBe(old.kid);
    expect(store.activeKey().kid).toBe(kid);
    expect(kid).not.toBe(old.kid);
    expect(verifies(store, old.kid, oldSignature)).toBe(true);
    expect(store.publicJwks().keys.map((k) => k.kid)).toEqual([old.kid, kid]);
    // The private half of the rotated key is gone from the database.
    const stored = db.prepare("SELECT private_pkcs8, status FROM signing_keys WHERE kid = ?").get(old.kid);
    expect(stored).toEqual({ private_pkcs8: null, status: "verify_only" });
  });

  it("keeps purposes apart: one table, separate keys, and one purpose's key never verifies the other's", async () => {
    const db = await openMigratedDatabase(":memory:");
    const audit = createSigningKeyStore(db, { purpose: "audit" });
    const tokens = createSigningKeyStore(db, { purpose: "capability-token" });
    const auditKey = audit.activeKey();
    const tokenKey = tokens.activeKey();
    expect(auditKey.kid).not.toBe(tokenKey.kid);
    expect(tokens.publicKey(auditKey.kid)).toBeUndefined();
    expect(audit.publicKey(tokenKey.kid)).toBeUndefined();
    tokens.rotate();
    expect(audit.activeKey().kid).toBe(auditKey.kid); // rotating token keys leaves the audit key alone
    expect(audit.publicJwks().keys.map((k) => k.kid)).toEqual([auditKey.kid]);
  });

  it("a rotation by another connection to the same file is honoured on the next activeKey()", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-keys-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "keys.sqlite");
    const [one, two] = [await openMigratedDatabase(file), await openMigratedDatabase(file)];
    cleanup.push(() => (one.close(), two.close()));
    const a = createSigningKeyStore(one, { purpose: "audit" });
    const b = createSigningKeyStore(two, { purpose: "audit" });
    const first = a.activeKey();
    expect(b.activeKey().kid).toBe(first.kid); // the second connection does not generate its own
    const { kid } = b.rotate();
    expect(a.activeKey().kid).toBe(kid);
  });
});

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0)) step();
});

describe("migration from the per-purpose tables of earlier versions", () => {
  type LegacyKey = ReturnType<typeof legacyKey>;

  /** A key row as the old stores wrote it. */
  function legacyKey() {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const { x } = publicKey.export({ format: "jwk" }) as { x: string };
    const kid = `legacy-${x.slice(0, 8)}`;
    return {
      kid,
      privateKey,
      jwk: JSON.stringify({ kty: "OKP", crv: "Ed25519", x, kid, alg: "EdDSA", use: "sig" }),
      pem: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
    };
  }

  async function legacyDatabase(): Promise<{
    db: Db;
    audit: [LegacyKey, LegacyKey];
    tokens: [LegacyKey, LegacyKey, LegacyKey];
  }> {
    const db = await openMigratedDatabase(":memory:");
    db.exec(`
      CREATE TABLE audit_signing_keys (kid TEXT PRIMARY KEY, public_jwk TEXT NOT NULL, private_pkcs8 TEXT,
        status TEXT NOT NULL, created_at TEXT NOT NULL, retired_at TEXT);
      CREATE TABLE capability_signing_keys (kid TEXT PRIMARY KEY, public_jwk TEXT NOT NULL, private_pkcs8 TEXT,
        status TEXT NOT NULL, created_at TEXT NOT NULL, rotated_at TEXT);`);
    const audit: [LegacyKey, LegacyKey] = [legacyKey(), legacyKey()];
    const tokens: [LegacyKey, LegacyKey, LegacyKey] = [legacyKey(), legacyKey(), legacyKey()];
    const insertAudit = db.prepare("INSERT INTO audit_signing_keys VALUES (?, ?, ?, ?, ?, ?)");
    insertAudit.run(
      audit[0].kid,
      audit[0].jwk,
      null,
      "retired",
      "2024-01-01T00:00:00.000Z",
      "2024-06-01T00:00:00.000Z",
    );
    insertAudit.run(audit[1].kid, audit[1].jwk, audit[1].pem, "active", "2024-06-01T00:00:00.000Z", null);
    const insertToken = db.prepare("INSERT INTO capability_signing_keys VALUES (?, ?, ?, ?, ?, ?)");
    insertToken.run(
      tokens[0].kid,
      tokens[0].jwk,
      null,
      "retired",
      "2024-01-01T00:00:00.000Z",
      "2024-02-01T00:00:00.000Z",
    );
    insertToken.run(
      tokens[1].kid,
      tokens[1].jwk,
      null,
      "verify_only",
      "2024-02-01T00:00:00.000Z",
      "2024-06-01T00:00:00.000Z",
    );
    insertToken.run(tokens[2].kid, tokens[2].jwk, tokens[2].pem, "active", "2024-06-01T00:00:00.000Z", null);
    return { db, audit, tokens };
  }

  it("old keys keep verifying, the active key keeps signing, and the old tables are gone", async () => {
    const { db, audit, tokens } = await legacyDatabase();
    const auditStore = createSigningKeyStore(db, { purpose: "audit" });
    const tokenStore = createSigningKeyStore(db, { purpose: "capability-token" });

    // A record signed by the retired audit key before the upgrade still verifies.
    expect(verifies(auditStore, audit[0].kid, sign(null, message, audit[0].privateKey))).toBe(true);
    expect(auditStore.activeKey().kid).toBe(audit[1].kid);
    expect(auditStore.publicJwks().keys.map((k) => k.kid)).toEqual([audit[0].kid, audit[1].kid]);

    expect(verifies(tokenStore, tokens[1].kid, sign(null, message, tokens[1].privateKey))).toBe(true);
    expect(tokenStore.activeKey().kid).toBe(tokens[2].kid);
    // A key the old store had retired (no longer verifying) is not resurrected.
    expect(tokenStore.publicKey(tokens[0].kid)).toBeUndefined();
    expect(tokenStore.publicJwks().keys.map((k) => k.kid)).toEqual([tokens[1].kid, tokens[2].kid]);

    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%signing_keys'")
      .all();
    expect(tables).toEqual([{ name: "signing_keys" }]);

    // A second start-up finds nothing to migrate and changes nothing.
    createSigningKeyStore(db, { purpose: "audit" });
    expect(auditStore.publicJwks().keys.map((k) => k.kid)).toEqual([audit[0].kid, audit[1].kid]);
  });

  it("the active key is still usable after the migration: it signs what its public half verifies", async () => {
    const { db, audit } = await legacyDatabase();
    const store = createSigningKeyStore(db, { purpose: "audit" });
    const active = store.activeKey();
    const signature = sign(null, message, active.privateKey);
    expect(verify(null, message, createPublicKey(active.privateKey), signature)).toBe(true);
    expect(verifies(store, audit[1].kid, signature)).toBe(true);
    store.rotate();
    expect(verifies(store, audit[1].kid, signature)).toBe(true);
  });

  it("an audit chain signed under the old audit_signing_keys table verifies after the upgrade", async () => {
    const db = await openMigratedDatabase(":memory:");
    const before = createAuditLog(db);
    const deny = () =>
      before.appendDecision({
        org_id: "org-1",
        interaction_id: `int-${Math.random()}`,
        uapk_id: "bot",
        agent_id: "bot",
        action: { type: "email", tool: "send", params: {} },
        decision: "DENY",
        reasons: [],
        policy_trace: null,
      });
    const first = deny();
    before.rotateSigningKey();
    const second = deny();
    // Put the keys back where the previous version kept them, as if this database predated the shared table.
    db.exec(`
      CREATE TABLE audit_signing_keys (kid TEXT PRIMARY KEY, public_jwk TEXT NOT NULL, private_pkcs8 TEXT,
        status TEXT NOT NULL, created_at TEXT NOT NULL, retired_at TEXT);
      INSERT INTO audit_signing_keys
        SELECT kid, public_jwk, private_pkcs8, CASE status WHEN 'active' THEN 'active' ELSE 'retired' END, created_at, rotated_at
        FROM signing_keys WHERE purpose = 'audit' ORDER BY created_at, rowid;
      DELETE FROM signing_keys;`);

    const after = createAuditLog(db);
    expect(await after.verifyChain("org-1")).toEqual({ valid: true, records: 2, orgs: 1 });
    expect(after.publicJwks().keys.map((k) => k.kid)).toEqual([first.kid, second.kid]);
    after.appendDecision({
      org_id: "org-1",
      interaction_id: "int-after-upgrade",
      uapk_id: "bot",
      agent_id: "bot",
      action: { type: "email", tool: "send", params: {} },
      decision: "DENY",
      reasons: [],
      policy_trace: null,
    });
    expect(after.getInteraction("org-1", "int-after-upgrade")[0]?.kid).toBe(second.kid); // the active key survived
    expect(await after.verifyChain("org-1")).toEqual({ valid: true, records: 3, orgs: 1 });
  });
});
