// API keys in the shared store: the same keyed hash (HMAC-SHA256 with GATEHOUSE_SECRET) and table as
// src/core/identity/api-keys.ts, so a key created on one node (or with the CLI) is accepted by every node.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { ApiKeysService } from "../../ports";
import type { AnyKysely } from "../postgres";

export function createSharedApiKeys(
  db: AnyKysely,
  opts: { secret: Buffer; envKeys: string[]; defaultOrg: string },
): ApiKeysService {
  const hash = (key: string) => createHmac("sha256", opts.secret).update(key).digest();
  const envKeys = opts.envKeys
    .filter((k) => k !== "changeme")
    .map((k, i) => ({ keyId: `env-${i + 1}`, hash: hash(k) }));
  return {
    get configured() {
      if (envKeys.length > 0) return true;
      return db
        .selectFrom("api_keys")
        .select("key_id")
        .where("revoked_at", "is", null)
        .limit(1)
        .executeTakeFirst()
        .then((row) => row !== undefined);
    },
    async verify(presented) {
      const h = hash(presented);
      for (const k of envKeys) if (timingSafeEqual(k.hash, h)) return { keyId: k.keyId, orgId: opts.defaultOrg };
      const row = await db
        .selectFrom("api_keys")
        .select(["key_id", "org_id"])
        .where("key_hash", "=", h)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      return row ? { keyId: row.key_id as string, orgId: row.org_id as string } : undefined;
    },
    async create(orgId, label) {
      const keyId = `key-${randomBytes(6).toString("hex")}`;
      const key = `gh_${randomBytes(24).toString("base64url")}`;
      await db
        .insertInto("api_keys")
        .values({ key_id: keyId, org_id: orgId, label, key_hash: hash(key), created_at: new Date().toISOString() })
        .execute();
      return { keyId, key };
    },
  };
}
