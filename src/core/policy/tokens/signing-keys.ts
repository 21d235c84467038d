// Ed25519 keys that sign capability tokens, kept in SQLite.
//
// One key is `active` (signs new tokens), generated on first use. Rotation moves it to `verify_only`
// — its private half is erased, so it can no longer sign but tokens it signed keep verifying until they
// expire — and generates a new active key. `publicJwks()` publishes every non-retired key for the JWKS
// endpoint. `kid` is the RFC 7638 thumbprint of the public key. Whoever can read the database file can
// sign tokens: protect it like a key.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { Db } from "../../store/sqlite";

export interface PublicJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS capability_signing_keys (
  kid           TEXT PRIMARY KEY,
  public_jwk    TEXT NOT NULL,
  private_pkcs8 TEXT,
  status        TEXT NOT NULL CHECK (status IN ('active', 'verify_only', 'retired')),
  created_at    TEXT NOT NULL,
  rotated_at    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS capability_signing_keys_one_active
  ON capability_signing_keys (status) WHERE status = 'active';
`;

interface KeyRow {
  kid: string;
  public_jwk: string;
  private_pkcs8: string | null;
  status: "active" | "verify_only" | "retired";
}

export class SigningKeyStore {
  private readonly publicKeys = new Map<string, KeyObject>();

  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    db.exec(SCHEMA);
  }

  /** The key that signs new tokens; generated (atomically) on first use. */
  activeKey(): SigningKey {
    const row = this.activeRow() ?? this.db.transaction(() => this.activeRow() ?? this.insertNewKey())();
    return { kid: row.kid, privateKey: createPrivateKey(row.private_pkcs8!) };
  }

  /** Retires the active key to verify-only and makes a new one active. */
  rotate(): { kid: string; previous_kid: string | null } {
    return this.db.transaction(() => {
      const previous = this.activeRow();
      if (previous) {
        this.db
          .prepare(
            `UPDATE capability_signing_keys SET status = 'verify_only', private_pkcs8 = NULL, rotated_at = ? WHERE kid = ?`,
          )
          .run(this.now().toISOString(), previous.kid);
      }
      const next = this.insertNewKey();
      return { kid: next.kid, previous_kid: previous?.kid ?? null };
    })();
  }

  /** Public key of `kid` if it may verify (active or verify-only); undefined for unknown or retired keys. */
  publicKey(kid: string): KeyObject | undefined {
    const cached = this.publicKeys.get(kid);
    if (cached) return cached;
    const row = this.db
      .prepare<[string], KeyRow>(`SELECT * FROM capability_signing_keys WHERE kid = ? AND status != 'retired'`)
      .get(kid);
    if (!row) return undefined;
    const key = createPublicKey({ key: JSON.parse(row.public_jwk), format: "jwk" });
    this.publicKeys.set(kid, key);
    return key;
  }

  /** Every key that may still verify, for `/.well-known/jwks.json`. */
  publicJwks(): { keys: PublicJwk[] } {
    const rows = this.db
      .prepare<[], KeyRow>(`SELECT * FROM capability_signing_keys WHERE status != 'retired' ORDER BY created_at DESC`)
      .all();
    return { keys: rows.map((r) => JSON.parse(r.public_jwk) as PublicJwk) };
  }

  private activeRow(): KeyRow | undefined {
    return this.db
      .prepare<[], KeyRow>(`SELECT * FROM capability_signing_keys WHERE status = 'active'`)
      .get();
  }

  private insertNewKey(): KeyRow {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const { x } = publicKey.export({ format: "jwk" }) as { x: string };
    const kid = jwkThumbprint(x);
    const jwk: PublicJwk = { kty: "OKP", crv: "Ed25519", x, kid, alg: "EdDSA", use: "sig" };
    const row: KeyRow = {
      kid,
      public_jwk: JSON.stringify(jwk),
      private_pkcs8: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
      status: "active",
    };
    this.db
      .prepare(
        `INSERT INTO capability_signing_keys (kid, public_jwk, private_pkcs8, status, created_at)
         VALUES (@kid, @public_jwk, @private_pkcs8, @status, @created_at)`,
      )
      .run({ ...row, created_at: this.now().toISOString() });
    return row;
  }
}

/** RFC 7638 thumbprint of an Ed25519 public key (members crv, kty, x in lexicographic order). */
function jwkThumbprint(x: string): string {
  return createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
}
