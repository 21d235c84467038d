// API keys for agents and scripts. Stored as a keyed hash (HMAC-SHA256 with a server secret): a lookup is one
// hash and one indexed read — never bcrypt on the event loop per request (the original's mistake).
// Keys given in the environment belong to the default org and are never written to disk.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { sqliteQuery } from "../store/sqlite-query";
import type { ApiKeysTable } from "../store/schema";
import type { Db } from "../store/sqlite";

/** Distinct presented keys whose hash is remembered. */
const HASH_CACHE_SIZE = 256;

export interface ApiKeyIdentity {
  keyId: string;
  orgId: string;
}

export interface ApiKeyStore {
  /** No key configured at all → the seed's 503. */
  readonly configured: boolean;
  verify(presented: string): ApiKeyIdentity | undefined;
  /** Creates a key for an org; returns the plaintext once. */
  create(orgId: string, label: string): { keyId: string; key: string };
}

export function createApiKeyStore(
  db: Db,
  opts: { secret: Buffer; envKeys: string[]; defaultOrg: string },
): ApiKeyStore {
  // Agents present the same few keys on every request: their keyed hashes are remembered (bounded, least
  // recently used out) so a request costs a map lookup, not an HMAC. Only the hash is cached, never the
  // verdict: revocation and the database lookup still happen on every request.
  const recentHashes = new Map<string, Buffer>();
  const presentedHash = (key: string): Buffer => {
    let h = recentHashes.get(key);
    if (h) {
      recentHashes.delete(key);
    } else {
      h = env.hash(key);
      if (recentHashes.size >= HASH_CACHE_SIZE) recentHashes.delete(recentHashes.keys().next().value!);
    }
    recentHashes.set(key, h);
    return h;
  };
  const env = environmentKeys(opts.secret, opts.envKeys);
  const byHash = sqliteQuery(db, (b, $: { key_hash: Buffer }) =>
    b
      .selectFrom("api_keys")
      .select(["key_id", "org_id"])
      .where("key_hash", "=", $.key_hash)
      .where("revoked_at", "is", null),
  );
  const anyKey = sqliteQuery(db, (b) =>
    b.selectFrom("api_keys").select("key_id").where("revoked_at", "is", null).limit(1),
  );
  const insert = sqliteQuery(db, (b, $: NewApiKey) =>
    b.insertInto("api_keys").values({
      key_id: $.key_id,
      org_id: $.org_id,
      label: $.label,
      key_hash: $.key_hash,
      created_at: $.created_at,
    }),
  );

  return {
    get configured() {
      return env.configured || anyKey.get({}) !== undefined;
    },
    verify(presented) {
      const h = presentedHash(presented);
      const match = env.match(h);
      if (match) return { keyId: match, orgId: opts.defaultOrg };
      const row = byHash.get({ key_hash: h });
      return row ? { keyId: row.key_id, orgId: row.org_id } : undefined;
    },
    create(orgId, label) {
      const { row, key } = newApiKey(env.hash, orgId, label);
      insert.run(row);
      return { keyId: row.key_id, key };
    },
  };
}

type NewApiKey = Omit<ApiKeysTable, "revoked_at">;

/**
 * The keyed hash of a presented key and the environment's keys (both backends: see also
 * src/core/store/shared/api-keys.ts). The placeholder from the seed's .env.example is refused outright (start-up
 * also warns). `match` compares in constant time against every environment key (a handful).
 */
export function environmentKeys(secret: Buffer, keys: string[]) {
  const hash = (key: string) => createHmac("sha256", secret).update(key).digest();
  const envKeys = keys.filter((k) => k !== "changeme").map((k, i) => ({ keyId: `env-${i + 1}`, hash: hash(k) }));
  return {
    hash,
    configured: envKeys.length > 0,
    match(presentedHash: Buffer): string | undefined {
      let match: string | undefined;
      for (const k of envKeys) if (timingSafeEqual(k.hash, presentedHash)) match = k.keyId;
      return match;
    },
  };
}

/** A new key for an org: its row (only the keyed hash is stored) and the plaintext, shown once. */
export function newApiKey(
  hash: (key: string) => Buffer,
  orgId: string,
  label: string,
): { row: NewApiKey; key: string } {
  const key = `gh_${randomBytes(24).toString("base64url")}`;
  const row = {
    key_id: `key-${randomBytes(6).toString("hex")}`,
    org_id: orgId,
    label,
    key_hash: hash(key),
    created_at: new Date().toISOString(),
  };
  return { row, key };
}
