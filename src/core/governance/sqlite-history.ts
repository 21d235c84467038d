// The replay and evidence history port (./history.ts) on the embedded SQLite store: the audit log's own reads,
// and the two counts the replay seeds its budgets and counterparties with, as prepared statements.
import type { AuditLog } from "../audit/audit-log";
import type { Db } from "../store/sqlite";
import { type AuditHistory, tokenTracePattern } from "./history";

export function sqliteAuditHistory(
  db: Db,
  audit: Pick<AuditLog, "getInteraction" | "signedHead" | "chainFrom" | "actionRecords">,
): AuditHistory {
  const intents = "SELECT COUNT(*) AS n FROM audit_records WHERE org_id = ? AND kind = 'intent' AND seq < ?";
  const byToken = db.prepare<[string, number, string], { n: number }>(`${intents} AND policy_trace LIKE ?`);
  const byAgent = db.prepare<[string, number, string, string, string], { n: number }>(
    `${intents} AND uapk_id = ? AND agent_id = ? AND timestamp >= ?`,
  );
  const firstSeen = db.prepare<[string, string], { counterparty: string; first_seen: string }>(
    "SELECT counterparty, first_seen FROM known_counterparties WHERE org_id = ? AND uapk_id = ?",
  );
  return {
    getInteraction: (orgId, interactionId) => audit.getInteraction(orgId, interactionId),
    signedHead: (orgId) => audit.signedHead(orgId),
    chainFrom: (orgId, fromSeq) => audit.chainFrom(orgId, fromSeq),
    actionRecords: (orgId, filter) => audit.actionRecords(orgId, filter),
    intentsBefore(orgId, beforeSeq, spentBy) {
      if ("token_id" in spentBy) return byToken.get(orgId, beforeSeq, tokenTracePattern(spentBy.token_id))!.n;
      return byAgent.get(orgId, beforeSeq, spentBy.uapk_id, spentBy.agent_id, spentBy.since)!.n;
    },
    counterpartiesFirstSeen: (orgId, uapkId) => firstSeen.all(orgId, uapkId),
  };
}
