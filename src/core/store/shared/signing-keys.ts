// Ed25519 signing keys in the shared store (PostgreSQL, or SQLite in the contract tests): the same table and
// rules as src/core/keys (one active key per purpose, rotation keeps old keys verifying), but async and with
// the private half sealed by GATEHOUSE_SECRET (./secret-box.ts), so that every node signs with the same key.
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import type { ActiveSigningKey, PublicJwk, SigningKeyPurpose } from "../../keys";
import { newSigningKeyPair } from "../../keys/signing-keys";
import { sql, type Transaction } from "kysely";
import type { AnyKysely } from "../postgres";
import type { Database } from "../schema";
import type { SecretBox } from "./secret-box";

/** The embedded store's purposes, and the development issuer's (user tokens of the built-in identity). */
export type SharedKeyPurpose = SigningKeyPurpose | "dev-issuer";

export interface SharedSigningKeys {
  readonly purpose: SharedKeyPurpose;
  /**
   * The key that signs now; the first node to ask generates it, every other node adopts that one. Pass the
   * caller's transaction when inside one (SQLite has a single connection: a query beside it would wait forever).
   * `activeKid`: the active key's id as the caller just read it; when this node already holds that key, no read.
   */
  activeKey(trx?: Executor, activeKid?: string): Promise<ActiveSigningKey>;
  rotate(): Promise<{ kid: string; previous_kid: string | null }>;
  publicKey(kid: string): Promise<KeyObject | undefined>;
  publicJwks(): Promise<{ keys: PublicJwk[] }>;
}

type Executor = AnyKysely | Transaction<Database>;

export interface SharedSigningKeysOptions {
  purpose: SharedKeyPurpose;
  box: SecretBox;
  now?: () => Date;
}

export function createSharedSigningKeys(db: AnyKysely, options: SharedSigningKeysOptions): SharedSigningKeys {
  const { purpose, box } = options;
  const now = options.now ?? (() => new Date());
  let cached: ActiveSigningKey | undefined;
  const publicKeys = new Map<string, KeyObject>();

  async function readActive(trx: Executor): Promise<ActiveSigningKey | undefined> {
    const row = await trx
      .selectFrom("signing_keys")
      .select(["kid", "private_pkcs8"])
      .where("purpose", "=", purpose)
      .where("status", "=", "active")
      .executeTakeFirst();
    if (!row?.private_pkcs8) return undefined;
    if (cached?.kid === row.kid) return cached;
    cached = { kid: row.kid, privateKey: createPrivateKey({ key: box.open(row.private_pkcs8), format: "pem" }) };
    return cached;
  }

  /** Inserts a new active key unless one exists; the partial unique index makes exactly one insert win. */
  async function insertCandidate(trx: Executor): Promise<void> {
    const { kid, jwk, pem } = newSigningKeyPair();
    await trx
      .insertInto("signing_keys")
      .values({
        purpose,
        kid,
        public_jwk: JSON.stringify(jwk),
        private_pkcs8: box.seal(pem),
        status: "active",
        created_at: now().toISOString(),
      })
      .onConflict((oc) => oc.column("purpose").where("status", "=", sql.lit("active")).doNothing())
      .execute();
  }

  return {
    purpose,
    async activeKey(trx = db, activeKid) {
      if (activeKid !== undefined && cached?.kid === activeKid) return cached;
      const existing = await readActive(trx);
      if (existing) return existing;
      await insertCandidate(trx);
      const adopted = await readActive(trx);
      if (!adopted) throw new Error(`signing keys: no active ${purpose} key after generation`);
      return adopted;
    },

    async rotate() {
      const previous = await db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable("signing_keys")
          .set({ status: "verify_only", private_pkcs8: null, rotated_at: now().toISOString() })
          .where("purpose", "=", purpose)
          .where("status", "=", "active")
          .returning("kid")
          .executeTakeFirst();
        return (row?.kid as string | undefined) ?? null;
      });
      cached = undefined;
      const next = await this.activeKey();
      return { kid: next.kid, previous_kid: previous };
    },

    async publicKey(kid) {
      const known = publicKeys.get(kid);
      if (known) return known;
      const row = await db
        .selectFrom("signing_keys")
        .select("public_jwk")
        .where("purpose", "=", purpose)
        .where("kid", "=", kid)
        .executeTakeFirst();
      if (!row) return undefined;
      const key = createPublicKey({ key: JSON.parse(row.public_jwk), format: "jwk" });
      publicKeys.set(kid, key);
      return key;
    },

    async publicJwks() {
      const rows = await db
        .selectFrom("signing_keys")
        .select("public_jwk")
        .where("purpose", "=", purpose)
        .orderBy("created_at")
        .orderBy("status", "desc")
        .execute();
      return { keys: rows.map((row) => JSON.parse(row.public_jwk) as PublicJwk) };
    },
  };
}
