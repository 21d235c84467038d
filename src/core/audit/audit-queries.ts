// The audit log's read queries with filters (the API's interaction list, shadow replay's recorded actions): SQL
// built from the filter, one page at a time.
import type { Db } from "../store/sqlite";
import type { AuditListFilter, AuditPage, RecordedAction } from "./audit-log";
import {
  ACTION_COLUMNS,
  decodeCursor,
  encodeCursor,
  fromRow,
  InvalidAuditQueryError,
  isoInstant,
  recordedAction,
  type Row,
} from "./audit-rows";

const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

/**
 * A record whose stored reasons hold `@reason_code`, or an outcome whose interaction's intent does (outcomes
 * store only their result; the API shows them with the intent's reasons, so the filter matches them the same way).
 */
const HAS_REASON = (table: string) =>
  `EXISTS (SELECT 1 FROM json_each(${table}.reasons) WHERE json_extract(json_each.value, '$.code') = @reason_code)`;
const REASON_CODE_MATCH = `(${HAS_REASON("audit_records")} OR (audit_records.kind = 'outcome' AND EXISTS (
  SELECT 1 FROM audit_records AS intent WHERE intent.org_id = audit_records.org_id
     AND intent.interaction_id = audit_records.interaction_id AND intent.kind = 'intent' AND ${HAS_REASON("intent")})))`;

export function listRecords(db: Db, org_id: string, filter: AuditListFilter): AuditPage {
  const where = ["org_id = @org_id"];
  const params: Record<string, unknown> = { org_id };
  if (filter.agent_id !== undefined) {
    where.push("agent_id = @agent_id");
    params.agent_id = filter.agent_id;
  }
  if (filter.decision !== undefined) {
    where.push("decision = @decision");
    params.decision = filter.decision;
  }
  if (filter.kind !== undefined) {
    where.push("kind = @kind");
    params.kind = filter.kind;
  }
  if (filter.reason_code !== undefined) {
    where.push(REASON_CODE_MATCH);
    params.reason_code = filter.reason_code;
  }
  if (filter.since !== undefined) {
    where.push("timestamp >= @since");
    params.since = isoInstant(filter.since, "since");
  }
  if (filter.until !== undefined) {
    where.push("timestamp < @until");
    params.until = isoInstant(filter.until, "until");
  }
  if (filter.cursor !== undefined) {
    where.push("seq < @before_seq");
    params.before_seq = decodeCursor(filter.cursor);
  }
  const limit = filter.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new InvalidAuditQueryError(`limit must be an integer between 1 and ${MAX_PAGE}`);
  }
  // One extra row tells whether there is a next page without a COUNT.
  const rows = db
    .prepare<Record<string, unknown>, Row>(
      `SELECT * FROM audit_records WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT ${limit + 1}`,
    )
    .all(params);
  const page = rows.slice(0, limit).map(fromRow);
  const last = page.at(-1);
  return { records: page, next_cursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
}

/** An agent's `intent` and `decision` records, chain order, at most `limit` + 1 (see AuditLog.actionRecords). */
export function actionRecordsOf(
  db: Db,
  org_id: string,
  filter: { uapk_id: string; since?: string; until?: string; limit: number },
): RecordedAction[] {
  const where = ["org_id = @org_id", "uapk_id = @uapk_id", "kind IN ('intent', 'decision')"];
  const params: Record<string, unknown> = { org_id, uapk_id: filter.uapk_id };
  if (filter.since !== undefined) {
    where.push("timestamp >= @since");
    params.since = isoInstant(filter.since, "since");
  }
  if (filter.until !== undefined) {
    where.push("timestamp < @until");
    params.until = isoInstant(filter.until, "until");
  }
  return db
    .prepare<Record<string, unknown>, Row>(
      `SELECT ${ACTION_COLUMNS.join(", ")} FROM audit_records WHERE ${where.join(" AND ")} ORDER BY seq LIMIT ${Math.max(1, Math.floor(filter.limit)) + 1}`,
    )
    .all(params)
    .map(recordedAction);
}
