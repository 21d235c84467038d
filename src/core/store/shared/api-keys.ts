// API keys in the shared store: the same keyed hash (HMAC-SHA256 with GATEHOUSE_SECRET) and table as
// src/core/identity/api-keys.ts, so a key created on one node (or with the CLI) is accepted by every node.
import { environmentKeys, newApiKey } from "../../identity/api-keys";
import type { ApiKeysService } from "../../ports";
import type { AnyKysely } from "../postgres";

export function createSharedApiKeys(
  db: AnyKysely,
  opts: { secret: Buffer; envKeys: string[]; defaultOrg: string },
): ApiKeysService {
  const env = environmentKeys(opts.secret, opts.envKeys);
  return {
    get configured() {
      if (env.configured) return true;
      return db
        .selectFrom("api_keys")
        .select("key_id")
        .where("revoked_at", "is", null)
        .limit(1)
        .executeTakeFirst()
        .then((row) => row !== undefined);
    },
    async verify(presented) {
      const h = env.hash(presented);
      const match = env.match(h);
      if (match) return { keyId: match, orgId: opts.defaultOrg };
      const row = await db
        .selectFrom("api_keys")
        .select(["key_id", "org_id"])
        .where("key_hash", "=", h)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      return row ? { keyId: row.key_id, orgId: row.org_id } : undefined;
    },
    async create(orgId, label) {
      const { row, key } = newApiKey(env.hash, orgId, label);
      await db.insertInto("api_keys").values(row).execute();
      return { keyId: row.key_id, key };
    },
  };
}
