// The capability-token list that both backends run alike, written once (like ./approval-queries.ts): newest first,
// filtered and paged in the store (keyset on issued_at, then token_id), so listing the tokens of an org that issues
// one per task reads one page, not every token it ever issued.
import type { Kysely } from "kysely";
import type { Database } from "./schema";

/** Which tokens of an org to list. */
export interface TokenListFilter {
  agentId?: string | undefined;
  uapkId?: string | undefined;
  includeInactive?: boolean | undefined;
  /** At most this many (a page: the store reads no more). */
  limit?: number | undefined;
  /** The last token of the previous page. */
  after?: { issued_at: string; token_id: string } | undefined;
}

/** The tokens of `filter`'s page in `org_id`; `nowIso` tells expired tokens apart when only active ones are asked. */
export function listTokensQuery(b: Kysely<Database>, org_id: string, filter: TokenListFilter, nowIso: string) {
  let query = b.selectFrom("capability_tokens").selectAll().where("org_id", "=", org_id);
  if (filter.agentId) query = query.where("agent_id", "=", filter.agentId);
  if (filter.uapkId) query = query.where("uapk_id", "=", filter.uapkId);
  if (!filter.includeInactive) query = query.where("revoked_at", "is", null).where("expires_at", ">", nowIso);
  const after = filter.after;
  if (after)
    query = query.where((eb) =>
      eb.or([
        eb("issued_at", "<", after.issued_at),
        eb.and([eb("issued_at", "=", after.issued_at), eb("token_id", ">", after.token_id)]),
      ]),
    );
  query = query.orderBy("issued_at", "desc").orderBy("token_id");
  return filter.limit === undefined ? query : query.limit(filter.limit);
}
