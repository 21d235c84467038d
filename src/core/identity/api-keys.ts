// API keys for agents and scripts. Stored as a keyed hash (HMAC-SHA256 with a server secret): a lookup is one
// hash and one indexed read — never bcrypt on the event loop per request (the original's mistake).
// Keys given in the environment belong to the default org and are never written to disk.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
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
  const hash = (key: string) => createHmac("sha256", opts.secret).update(key).digest();
  // Agents present the same few keys on every request: their keyed hashes are remembered (bounded, least
  // recently used out) so a request costs a map lookup, not an HMAC. Only the hash is cached, never the
  // verdict: revocation and the database lookup still happen on every request.
  const recentHashes = new Map<string, Buffer>();
  const presentedHash = (key: string): Buffer => {
    let h = recentHashes.get(key);
    if (h) {
      recentHashes.delete(key);
    } else {
      h = hash(key);
      if (recentHashes.size >= HASH_CACHE_SIZE) recentHashes.delete(recentHashes.keys().next().value!);
    }
    recentHashes.set(key, h);
    return h;
  };
  // The placeholder from the seed's .env.example is refused outright (start-up also warns).
  const envKeys = opts.envKeys
    .filter((k) => k !== "changeme")
    .map((k, i) => ({ keyId: `env-${i + 1}`, hash: hash(k) }));
  const byHash = db.prepare<[Buffer], { key_id: string; org_id: string }>(
    "SELECT key_id, org_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
  );
  const countKeys = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL");
  const insert = db.prepare(
    "INSERT INTO api_keys (key_id, org_id, label, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
  );

  return {
    get configured() {
      return envKeys.length > 0 || countKeys.get()!.n > 0;
    },
    verify(presented) {
      const h = presentedHash(presented);
      // Constant-time comparison against every environment key (a handful), then an indexed lookup.
      let match: string | undefined;
      for (const k of envKeys) if (timingSafeEqual(k.hash, h)) match = k.keyId;
      if (match) return { keyId: match, orgId: opts.defaultOrg };
      const row = byHash.get(h);
      return row ? { keyId: row.key_id, orgId: row.org_id } : undefined;
    },
    create(orgId, label) {
      const keyId = `key-${randomBytes(6).toString("hex")}`;
      const key = `gh_${randomBytes(24).toString("base64url")}`;
      insert.run(keyId, orgId, label, hash(key), new Date().toISOString());
      return { keyId, key };
    },
  };
}
