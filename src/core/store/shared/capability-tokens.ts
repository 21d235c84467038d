// Capability tokens in the shared store: signed with the shared capability-token key (every node issues and
// verifies with the same keys), recorded in capability_tokens, revoked by one conditional UPDATE. Every
// verification reads the token's row, so a revocation committed on one node is refused on every node from the
// next request on (bound: the revoking request's commit; no cache to expire).
import {
  revocationVerdict,
  signCapabilityToken,
  toInfo,
  tokenIssuedRecord,
  tokenRevokedRecord,
  verifyCapabilityJwt,
  type TokenRow,
} from "../../policy/tokens/capability-tokens";
import type { SharedAuditChain } from "./audit-chain";
import type { CapabilityTokensService } from "../../ports";
import { listTokensQuery } from "../token-queries";
import type { AnyKysely } from "../postgres";
import type { SharedSigningKeys } from "./signing-keys";

export function createSharedCapabilityTokens(
  db: AnyKysely,
  keys: SharedSigningKeys,
  options: { now?: () => Date; audit?: Pick<SharedAuditChain, "appendTokenRecord"> } = {},
): CapabilityTokensService {
  const now = options.now ?? (() => new Date());
  const { audit } = options;

  async function get(orgId: string, tokenId: string) {
    const row = (await db
      .selectFrom("capability_tokens")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("token_id", "=", tokenId)
      .executeTakeFirst()) as TokenRow | undefined;
    return row && toInfo(row);
  }

  return {
    get,

    // The token's row and its audit record in one transaction: no token nobody is recorded as having issued.
    async issue(input) {
      const { issued, row } = await signCapabilityToken(input, await keys.activeKey(), now());
      await db.transaction().execute(async (trx) => {
        await trx.insertInto("capability_tokens").values(row).execute();
        await audit?.appendTokenRecord(tokenIssuedRecord(row), trx);
      });
      return issued;
    },

    async verify(token, expected) {
      const verified = await verifyCapabilityJwt(token, (kid) => keys.publicKey(kid), expected, now());
      if (!verified.ok) return verified;
      const row = await db
        .selectFrom("capability_tokens")
        .select("revoked_at")
        .where("token_id", "=", verified.claims.jti)
        .where("org_id", "=", expected.orgId)
        .executeTakeFirst();
      return revocationVerdict(verified, row as { revoked_at: string | null } | undefined);
    },

    // The revocation and its audit record in one transaction; only the revocation that took effect is recorded (a
    // repeated one, or a second node's racing one, matches no row and writes nothing).
    async revoke(orgId, tokenId, revokedBy, reason) {
      await db.transaction().execute(async (trx) => {
        const revoked = (await trx
          .updateTable("capability_tokens")
          .set({ revoked_at: now().toISOString(), revoke_reason: reason ?? null, revoked_by: revokedBy })
          .where("org_id", "=", orgId)
          .where("token_id", "=", tokenId)
          .where("revoked_at", "is", null)
          .returningAll()
          .executeTakeFirst()) as TokenRow | undefined;
        if (revoked) await audit?.appendTokenRecord(tokenRevokedRecord(revoked), trx);
      });
      return get(orgId, tokenId);
    },

    async list(orgId, filter = {}) {
      const rows = (await listTokensQuery(db, orgId, filter, now().toISOString()).execute()) as TokenRow[];
      return rows.map(toInfo);
    },
  };
}
