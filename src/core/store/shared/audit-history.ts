// The replay and evidence history port (src/core/governance/history.ts) on the shared store: the same reads as
// the embedded store's, written once with Kysely. Records keep the exact shape of the embedded audit log's, so a
// replay decides and an evidence bundle verifies the same on either backend.
import { isoInstant } from "../../audit/audit-log";
import { type AuditHistory, tokenTracePattern } from "../../governance/history";
import { counterpartiesFirstSeen, intentsByAgent, intentsByToken } from "../history-queries";
import type { AnyKysely } from "../postgres";
import { chainFrom, type SharedAuditChain } from "./audit-chain";
import { ACTION_COLUMNS, recordedAction } from "../../audit/audit-rows";

export function createSharedAuditHistory(
  db: AnyKysely,
  audit: Pick<SharedAuditChain, "getInteraction" | "signedHead">,
): AuditHistory {
  return {
    getInteraction: (orgId, interactionId) => audit.getInteraction(orgId, interactionId),
    signedHead: (orgId) => audit.signedHead(orgId),

    chainPage: (orgId, fromSeq, limit) => chainFrom(db, orgId, fromSeq, limit),

    async actionRecords(orgId, filter) {
      let query = db
        .selectFrom("audit_records")
        .select([...ACTION_COLUMNS])
        .where("org_id", "=", orgId)
        .where("uapk_id", "=", filter.uapk_id)
        .where("kind", "in", ["intent", "decision"]);
      if (filter.since !== undefined) query = query.where("timestamp", ">=", isoInstant(filter.since, "since"));
      if (filter.until !== undefined) query = query.where("timestamp", "<", isoInstant(filter.until, "until"));
      if (filter.after_seq !== undefined) query = query.where("seq", ">", filter.after_seq);
      const rows = await query
        .orderBy("seq")
        .limit(Math.max(1, Math.floor(filter.limit)) + 1)
        .execute();
      return rows.map(recordedAction);
    },

    async intentsBefore(orgId, beforeSeq, spentBy) {
      const before = { org_id: orgId, before_seq: beforeSeq };
      const query =
        "token_id" in spentBy
          ? intentsByToken(db, { ...before, pattern: tokenTracePattern(spentBy.token_id) })
          : intentsByAgent(db, {
              ...before,
              uapk_id: spentBy.uapk_id,
              agent_id: spentBy.agent_id,
              since: spentBy.since,
            });
      return Number((await query.executeTakeFirstOrThrow()).n);
    },

    counterpartiesFirstSeen: (orgId, uapkId) =>
      counterpartiesFirstSeen(db, { org_id: orgId, uapk_id: uapkId }).execute(),
  };
}
