// The replay and evidence history port (./history.ts) on the embedded SQLite store: the audit log's own reads,
// and the counts the replay seeds its budgets and counterparties with (../store/history-queries.ts, compiled once).
import type { AuditLog } from "../audit/audit-log";
import { counterpartiesFirstSeen, intentsByAgent, intentsByToken } from "../store/history-queries";
import { sqliteQuery } from "../store/sqlite-query";
import type { Db } from "../store/sqlite";
import { type AuditHistory, tokenTracePattern } from "./history";

export function sqliteAuditHistory(
  db: Db,
  audit: Pick<AuditLog, "getInteraction" | "signedHead" | "chainPage" | "actionRecords">,
): AuditHistory {
  const byToken = sqliteQuery(db, (b, $: Parameters<typeof intentsByToken>[1]) => intentsByToken(b, $));
  const byAgent = sqliteQuery(db, (b, $: Parameters<typeof intentsByAgent>[1]) => intentsByAgent(b, $));
  const firstSeen = sqliteQuery(db, (b, $: Parameters<typeof counterpartiesFirstSeen>[1]) =>
    counterpartiesFirstSeen(b, $),
  );
  return {
    getInteraction: (orgId, interactionId) => audit.getInteraction(orgId, interactionId),
    signedHead: (orgId) => audit.signedHead(orgId),
    chainPage: (orgId, fromSeq, limit) => audit.chainPage(orgId, fromSeq, limit),
    actionRecords: (orgId, filter) => audit.actionRecords(orgId, filter),
    intentsBefore(orgId, beforeSeq, spentBy) {
      const before = { org_id: orgId, before_seq: beforeSeq };
      if ("token_id" in spentBy) return byToken.get({ ...before, pattern: tokenTracePattern(spentBy.token_id) })!.n;
      return byAgent.get({ ...before, uapk_id: spentBy.uapk_id, agent_id: spentBy.agent_id, since: spentBy.since })!.n;
    },
    counterpartiesFirstSeen: (orgId, uapkId) => firstSeen.all({ org_id: orgId, uapk_id: uapkId }),
  };
}
