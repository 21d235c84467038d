// Ed25519 signing keys, kept in SQLite: one store for every purpose that signs (the audit log, capability
// tokens), each purpose with its own keys in one table.
//
// Per purpose exactly one key is `active` (signs), generated on first use. Rotation moves it to `verify_only`
// — its private half is erased, so it can no longer sign, but what it signed keeps verifying — and makes a
// new key active. Keys are never deleted: `publicJwks()` publishes every key of the purpose (oldest first,
// the active key last) so offline verifiers can check old audit records and still-valid tokens.
// `kid` is the RFC 7638 thumbprint of the public key.
//
// The active private key lives in the database file: whoever can read that file can sign, so protect it like
// a key. Keys of one purpose never verify another's signatures (a token key cannot vouch for an audit record).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { sql } from "kysely";
import { type sqliteBuilder, sqliteQuery } from "../store/sqlite-query";
import type { Db } from "../store/sqlite";

export type SigningKeyPurpose = "audit" | "capability-token";

export interface PublicJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
}

export interface ActiveSigningKey {
  kid: string;
  privateKey: KeyObject;
}

export interface SigningKeyStore {
  readonly purpose: SigningKeyPurpose;
  /**
   * The key that signs now; generated atomically on first use. Re-reads which key is active on every call (a
   * cheap indexed lookup), so a rotation by another process sharing the database is honoured at once. Safe to
   * call inside the caller's transaction.
   */
  activeKey(): ActiveSigningKey;
  /** Makes the active key verify-only and a new key active. */
  rotate(): { kid: string; previous_kid: string | null };
  /** Public key of `kid` if it belongs to this purpose (active or verify-only); undefined otherwise. */
  publicKey(kid: string): KeyObject | undefined;
  /** Every key of this purpose, oldest first (the active key last), for `/.well-known/jwks.json`. */
  publicJwks(): { keys: PublicJwk[] };
}

/**
 * The per-purpose tables of earlier versions: `audit_signing_keys` (statuses active / retired, where retired
 * meant verify-only) and `capability_signing_keys` (active / verify_only / retired, where retired meant "no
 * longer verifies"; nothing ever set it, but such a key is not carried over).
 */
const LEGACY_TABLES: Record<SigningKeyPurpose, { table: string; verifying: string; rotatedAt: string }> = {
  audit: { table: "audit_signing_keys", verifying: "status IN ('active', 'retired')", rotatedAt: "retired_at" },
  "capability-token": {
    table: "capability_signing_keys",
    verifying: "status IN ('active', 'verify_only')",
    rotatedAt: "rotated_at",
  },
};

/**
 * Moves a legacy table's keys into `signing_keys` and drops it, in one transaction, so records and tokens
 * signed before the upgrade keep verifying. The active key stays active unless this purpose already has one.
 */
function migrateLegacyKeys(db: Db, purpose: SigningKeyPurpose): void {
  const legacy = LEGACY_TABLES[purpose];
  const exists = () =>
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(legacy.table) !== undefined;
  if (!exists()) return;
  db.transaction(() => {
    if (!exists()) return; // another process migrated it while we waited for the write lock
    const hasActive =
      db.prepare("SELECT 1 FROM signing_keys WHERE purpose = ? AND status = 'active'").get(purpose) !== undefined;
    const keepsActive = hasActive ? "0" : "status = 'active'";
    db.prepare(
      `INSERT OR IGNORE INTO signing_keys (purpose, kid, public_jwk, private_pkcs8, status, created_at, rotated_at)
       SELECT @purpose, kid, public_jwk,
              CASE WHEN ${keepsActive} THEN private_pkcs8 END,
              CASE WHEN ${keepsActive} THEN 'active' ELSE 'verify_only' END,
              created_at, ${legacy.rotatedAt}
       FROM ${legacy.table} WHERE ${legacy.verifying} ORDER BY created_at, rowid`,
    ).run({ purpose });
    db.exec(`DROP TABLE ${legacy.table}`);
  }).immediate();
}

export function createSigningKeyStore(
  db: Db,
  options: { purpose: SigningKeyPurpose; now?: () => Date },
): SigningKeyStore {
  const { purpose } = options;
  const now = options.now ?? (() => new Date());
  migrateLegacyKeys(db, purpose);

  type Key = { purpose: string; kid: string };
  const ofPurpose = (b: typeof sqliteBuilder, $: { purpose: string }) =>
    b.selectFrom("signing_keys").where("purpose", "=", $.purpose);
  const activeKidStmt = sqliteQuery(db, (b, $: { purpose: string }) =>
    ofPurpose(b, $).select("kid").where("status", "=", "active"),
  );
  const privateKeyStmt = sqliteQuery(db, (b, $: Key) =>
    ofPurpose(b, $).select("private_pkcs8").where("kid", "=", $.kid).where("status", "=", "active"),
  );
  const publicJwkStmt = sqliteQuery(db, (b, $: Key) => ofPurpose(b, $).select("public_jwk").where("kid", "=", $.kid));
  // rowid breaks ties: a rotation within the same millisecond must still list the new key after the old one.
  const allJwksStmt = sqliteQuery(db, (b, $: { purpose: string }) =>
    ofPurpose(b, $).select("public_jwk").orderBy("created_at").orderBy(sql`rowid`),
  );
  const retireStmt = sqliteQuery(db, (b, $: Key & { rotated_at: string }) =>
    b
      .updateTable("signing_keys")
      .set({ status: "verify_only", private_pkcs8: null, rotated_at: $.rotated_at })
      .where("purpose", "=", $.purpose)
      .where("kid", "=", $.kid),
  );
  const insertStmt = sqliteQuery(db, (b, $: Key & { public_jwk: string; private_pkcs8: string; created_at: string }) =>
    b.insertInto("signing_keys").values({
      purpose: $.purpose,
      kid: $.kid,
      public_jwk: $.public_jwk,
      private_pkcs8: $.private_pkcs8,
      status: "active",
      created_at: $.created_at,
    }),
  );

  // Parsing a PEM costs more than the lookup: keep the active private key until another kid becomes active.
  let cachedActive: ActiveSigningKey | undefined;
  const publicKeys = new Map<string, KeyObject>();

  function insertNewActiveKey(): ActiveSigningKey {
    const { kid, jwk, pem, publicKey, privateKey } = newSigningKeyPair();
    insertStmt.run({
      purpose,
      kid,
      public_jwk: JSON.stringify(jwk),
      private_pkcs8: pem,
      created_at: now().toISOString(),
    });
    publicKeys.set(kid, publicKey);
    return { kid, privateKey };
  }

  function loadActive(kid: string): ActiveSigningKey | undefined {
    if (cachedActive?.kid === kid) return cachedActive;
    const row = privateKeyStmt.get({ purpose, kid });
    if (!row?.private_pkcs8) return undefined;
    return { kid, privateKey: createPrivateKey({ key: row.private_pkcs8, format: "pem" }) };
  }

  // IMMEDIATE outside a transaction: two processes starting at once must not both generate a first key.
  // Inside the caller's transaction this becomes a savepoint of it.
  const activeOrNew = db.transaction((): ActiveSigningKey => {
    const row = activeKidStmt.get({ purpose });
    return (row && loadActive(row.kid)) ?? insertNewActiveKey();
  });

  return {
    purpose,

    activeKey() {
      const row = activeKidStmt.get({ purpose });
      cachedActive = (row && loadActive(row.kid)) ?? activeOrNew.immediate();
      return cachedActive;
    },

    rotate() {
      return db
        .transaction(() => {
          const previous = activeKidStmt.get({ purpose });
          if (previous) retireStmt.run({ rotated_at: now().toISOString(), purpose, kid: previous.kid });
          cachedActive = insertNewActiveKey();
          return { kid: cachedActive.kid, previous_kid: previous?.kid ?? null };
        })
        .immediate();
    },

    publicKey(kid) {
      const cached = publicKeys.get(kid);
      if (cached) return cached;
      const row = publicJwkStmt.get({ purpose, kid });
      if (!row) return undefined;
      const key = createPublicKey({ key: JSON.parse(row.public_jwk), format: "jwk" });
      publicKeys.set(kid, key);
      return key;
    },

    publicJwks() {
      return { keys: allJwksStmt.all({ purpose }).map((row) => JSON.parse(row.public_jwk) as PublicJwk) };
    },
  };
}

/**
 * A new Ed25519 key pair with its public JWK and PKCS#8 PEM; its kid is the RFC 7638 thumbprint (both backends:
 * the shared store's signing keys seal the PEM before storing it).
 */
export function newSigningKeyPair() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const { x } = publicKey.export({ format: "jwk" }) as { x: string };
  const kid = jwkThumbprint(x);
  const jwk: PublicJwk = { kty: "OKP", crv: "Ed25519", x, kid, alg: "EdDSA", use: "sig" };
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  return { kid, jwk, pem, publicKey, privateKey };
}

/** RFC 7638 thumbprint of an Ed25519 public key (members crv, kty, x in lexicographic order, no spaces). */
function jwkThumbprint(x: string): string {
  return createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
}
