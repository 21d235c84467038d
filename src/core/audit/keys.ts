// Ed25519 signing keys of the audit log, kept in SQLite.
//
// Exactly one key is `active` (signs new records); rotation retires it to `retired`, which erases its private
// half so it can only verify. Every key ever used stays in the table, so old records keep verifying, and
// `publicJwks()` publishes all of them for offline verifiers. The embedded store keeps the active private key
// in the database file: whoever can read that file can sign, so protect the file like a key.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { Db } from "../store/sqlite";
import { canonicalJson } from "./canonical";
import { createHash } from "node:crypto";

export interface AuditPublicJwk {
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_signing_keys (
  kid          TEXT PRIMARY KEY,
  public_jwk   TEXT NOT NULL,
  private_pkcs8 TEXT,
  status       TEXT NOT NULL CHECK (status IN ('active', 'retired')),
  created_at   TEXT NOT NULL,
  retired_at   TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS audit_signing_keys_one_active ON audit_signing_keys (status) WHERE status = 'active';
`;

interface KeyRow {
  kid: string;
  public_jwk: string;
  private_pkcs8: string | null;
  status: "active" | "retired";
}

export class AuditKeyStore {
  private active: ActiveSigningKey | undefined;
  private readonly publicKeys = new Map<string, KeyObject>();

  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    db.exec(SCHEMA);
  }

  /** The key that signs new records; generated on first use. Call inside the append transaction. */
  activeKey(): ActiveSigningKey {
    const row = this.db
      .prepare<[], KeyRow>("SELECT * FROM audit_signing_keys WHERE status = 'active'")
      .get();
    if (row?.private_pkcs8) {
      // Another connection (or process) may have rotated since we cached it: trust the table, not the cache.
      if (this.active?.kid !== row.kid) {
        this.active = { kid: row.kid, privateKey: createPrivateKey({ key: row.private_pkcs8, format: "pem" }) };
      }
      return this.active;
    }
    return this.insertNewActiveKey();
  }

  /** Retires the active key (verify-only from now on) and makes a new one active. */
  rotate(): { kid: string; retired_kid: string | null } {
    return this.db
      .transaction(() => {
        const current = this.db
          .prepare<[], { kid: string }>("SELECT kid FROM audit_signing_keys WHERE status = 'active'")
          .get();
        if (current) {
          this.db
            .prepare("UPDATE audit_signing_keys SET status = 'retired', private_pkcs8 = NULL, retired_at = ? WHERE kid = ?")
            .run(this.now().toISOString(), current.kid);
        }
        const fresh = this.insertNewActiveKey();
        return { kid: fresh.kid, retired_kid: current?.kid ?? null };
      })
      .immediate();
  }

  publicKey(kid: string): KeyObject | undefined {
    const cached = this.publicKeys.get(kid);
    if (cached) return cached;
    const row = this.db
      .prepare<[string], { public_jwk: string }>("SELECT public_jwk FROM audit_signing_keys WHERE kid = ?")
      .get(kid);
    if (!row) return undefined;
    const key = createPublicKey({ key: JSON.parse(row.public_jwk), format: "jwk" });
    this.publicKeys.set(kid, key);
    return key;
  }

  /** Every key, active and retired, oldest first (the active key last), as a JWK set for offline verification. */
  publicJwks(): { keys: AuditPublicJwk[] } {
    // rowid breaks ties: a rotation within the same millisecond must still list the new key after the old one.
    const rows = this.db
      .prepare<[], { public_jwk: string }>("SELECT public_jwk FROM audit_signing_keys ORDER BY created_at, rowid")
      .all();
    return { keys: rows.map((row) => JSON.parse(row.public_jwk) as AuditPublicJwk) };
  }

  private insertNewActiveKey(): ActiveSigningKey {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const exported = publicKey.export({ format: "jwk" }) as { x: string };
    const kid = jwkThumbprint(exported.x);
    const jwk: AuditPublicJwk = { kty: "OKP", crv: "Ed25519", x: exported.x, kid, alg: "EdDSA", use: "sig" };
    this.db
      .prepare(
        "INSERT INTO audit_signing_keys (kid, public_jwk, private_pkcs8, status, created_at) VALUES (?, ?, ?, 'active', ?)",
      )
      .run(kid, JSON.stringify(jwk), privateKey.export({ format: "pem", type: "pkcs8" }) as string, this.now().toISOString());
    this.active = { kid, privateKey };
    this.publicKeys.set(kid, publicKey);
    return this.active;
  }
}

/** RFC 7638 thumbprint of an Ed25519 public key: a stable kid derived from the key itself. */
function jwkThumbprint(x: string): string {
  return createHash("sha256").update(canonicalJson({ crv: "Ed25519", kty: "OKP", x })).digest("base64url");
}
