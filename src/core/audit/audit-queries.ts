// The audit log's read queries with filters (the API's interaction list, shadow replay's recorded actions): SQL
// built from the filter, one page at a time.
import { type ExpressionBuilder, type SqlBool, sql } from "kysely";
import type { Database } from "../store/schema";
import { compiledQuery, sqliteBuilder } from "../store/sqlite-query";
import type { Db } from "../store/sqlite";
import type { AuditListFilter, AuditPage, RecordedAction } from "./audit-inputs";
import {
  ACTION_COLUMNS,
  decodeCursor,
  encodeCursor,
  fromRow,
  InvalidAuditQueryError,
  isoInstant,
  recordedAction,
} from "./audit-rows";

const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

/** A record whose stored reasons (JSON text) hold one of code `code` (SQLite's JSON functions). */
const hasReason = (table: "audit_records" | "intent", code: string) =>
  sql<SqlBool>`EXISTS (SELECT 1 FROM json_each(${sql.ref(`${table}.reasons`)}) WHERE json_extract(json_each.value, '$.code') = ${code})`;

/**
 * A record whose stored reasons hold `code`, or an outcome whose interaction's intent does (outcomes store only
 * their result; the API shows them with the intent's reasons, so the filter matches them the same way).
 */
function reasonCodeMatch(eb: ExpressionBuilder<Database, "audit_records">, code: string) {
  const intentHasIt = eb
    .selectFrom("audit_records as intent")
    .select("intent.seq")
    .whereRef("intent.org_id", "=", "audit_records.org_id")
    .whereRef("intent.interaction_id", "=", "audit_records.interaction_id")
    .where("intent.kind", "=", "intent")
    .where(hasReason("intent", code));
  return eb.or([hasReason("audit_records", code), eb.and([eb("kind", "=", "outcome"), eb.exists(intentHasIt)])]);
}

export function listRecords(db: Db, org_id: string, filter: AuditListFilter): AuditPage {
  let query = sqliteBuilder.selectFrom("audit_records").selectAll().where("org_id", "=", org_id);
  if (filter.agent_id !== undefined) query = query.where("agent_id", "=", filter.agent_id);
  if (filter.decision !== undefined) query = query.where("decision", "=", filter.decision);
  if (filter.kind !== undefined) query = query.where("kind", "=", filter.kind);
  const code = filter.reason_code;
  if (code !== undefined) query = query.where((eb) => reasonCodeMatch(eb, code));
  if (filter.since !== undefined) query = query.where("timestamp", ">=", isoInstant(filter.since, "since"));
  if (filter.until !== undefined) query = query.where("timestamp", "<", isoInstant(filter.until, "until"));
  if (filter.cursor !== undefined) query = query.where("seq", "<", decodeCursor(filter.cursor));
  const limit = filter.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new InvalidAuditQueryError(`limit must be an integer between 1 and ${MAX_PAGE}`);
  }
  // One extra row tells whether there is a next page without a COUNT.
  const rows = compiledQuery(db, query.orderBy("seq", "desc").limit(limit + 1)).all();
  const page = rows.slice(0, limit).map(fromRow);
  const last = page.at(-1);
  return { records: page, next_cursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
}

/** An agent's `intent` and `decision` records, chain order, at most `limit` + 1 (see AuditLog.actionRecords). */
export function actionRecordsOf(
  db: Db,
  org_id: string,
  filter: { uapk_id: string; since?: string; until?: string; after_seq?: number; limit: number },
): RecordedAction[] {
  let query = sqliteBuilder
    .selectFrom("audit_records")
    .select([...ACTION_COLUMNS])
    .where("org_id", "=", org_id)
    .where("uapk_id", "=", filter.uapk_id)
    .where("kind", "in", ["intent", "decision"]);
  if (filter.since !== undefined) query = query.where("timestamp", ">=", isoInstant(filter.since, "since"));
  if (filter.until !== undefined) query = query.where("timestamp", "<", isoInstant(filter.until, "until"));
  if (filter.after_seq !== undefined) query = query.where("seq", ">", filter.after_seq);
  const limit = Math.max(1, Math.floor(filter.limit)) + 1;
  return compiledQuery(db, query.orderBy("seq").limit(limit)).all().map(recordedAction);
}
