// The audit record as a table row, and the cursor and instant codecs of its queries: one codec for SQLite and
// PostgreSQL.

import type { AuditRecordsTable } from "../store/schema";
import { canonicalJson } from "./canonical";
import type { RecordedAction } from "./audit-inputs";
import type { AuditRecord, JsonColumnTexts } from "./record";

export class InvalidAuditQueryError extends Error {}

/** The stored row (JSON columns as text, `executed` 0/1, "" for a null signature): `audit_records` of the schema. */
export type Row = AuditRecordsTable;

/**
 * A record as a table row (JSON columns as text, `executed` as 0/1): one codec for SQLite and PostgreSQL. `texts`,
 * from hashRecord, are its JSON columns already serialised: the canonical JSON the hash covers is the text stored
 * (the values JSON.stringify would write, keys sorted).
 */
export function toRow(record: AuditRecord, texts: JsonColumnTexts): Row {
  return {
    ...record,
    action: stored(texts.action),
    reasons: stored(texts.reasons),
    policy_trace: stored(texts.policy_trace),
    result: stored(texts.result),
    meta: stored(texts.meta),
    executed: record.executed === null ? null : record.executed ? 1 : 0,
    // The column predates unsigned records (NOT NULL): "" stands for null there.
    signature: record.signature ?? "",
  };
}

/** A JSON column's text as stored: SQL NULL for JSON null. */
const stored = (text: string) => (text === "null" ? null : text);

/**
 * A stored row as a record: one codec for SQLite and PostgreSQL (a driver may hand integers back as strings or
 * bigints, hence the Number()).
 */
export function fromRow(row: Row): AuditRecord {
  return {
    org_id: row.org_id,
    seq: Number(row.seq),
    kind: row.kind,
    interaction_id: row.interaction_id,
    timestamp: row.timestamp,
    uapk_id: row.uapk_id,
    agent_id: row.agent_id,
    action: parse(row.action),
    decision: row.decision,
    reasons: parse(row.reasons),
    policy_trace: parse(row.policy_trace),
    approval_id: row.approval_id,
    executed: row.executed === null ? null : Number(row.executed) === 1,
    result: parse(row.result),
    meta: parse(row.meta),
    prev_hash: row.prev_hash,
    kid: row.kid,
    hash: row.hash,
    // "" (or null) stands for a record proven by a later record's signature (one signature per group or batch).
    signature: row.signature === "" || row.signature === null ? null : row.signature,
  };
}

const parse = (text: string | null) => (text === null ? null : JSON.parse(text));

const JSON_COLUMNS = ["action", "reasons", "policy_trace", "result", "meta"] as const;

/**
 * A stored row as verification reads it. The hash covers each JSON column's parsed value, but SQL reads the text
 * (json_each, json_extract): an edit that leaves the parsed value alone — a duplicate key (`{"code":"OK","code":"X"}`:
 * SQLite reads the first, JSON.parse the last), a space — would change what the reason-code filter finds and still
 * verify. So a column whose text is not the JSON written for it (canonical JSON; JSON.stringify's, in rows from
 * before 2026-12-04) is verified as the text it is, which its hash does not cover.
 */
export function fromStoredRow(row: Row): AuditRecord {
  const record = fromRow(row);
  for (const column of JSON_COLUMNS) {
    const text = row[column];
    if (text === null || text === undefined) continue;
    const value = record[column];
    if (text !== canonicalJson(value) && text !== JSON.stringify(value)) Object.assign(record, { [column]: text });
  }
  return record;
}

/** The columns shadow replay reads of a recorded action (see RecordedAction). */
export const ACTION_COLUMNS = [
  "seq",
  "kind",
  "interaction_id",
  "timestamp",
  "uapk_id",
  "agent_id",
  "action",
  "decision",
  "reasons",
  "approval_id",
  "policy_trace",
  "meta",
] as const;

/** A recorded action as shadow replay reads it: the trace and meta stay text (most replays never look inside). */
export function recordedAction(row: Pick<Row, (typeof ACTION_COLUMNS)[number]>): RecordedAction {
  return {
    seq: Number(row.seq),
    kind: row.kind,
    interaction_id: row.interaction_id,
    timestamp: row.timestamp,
    uapk_id: row.uapk_id,
    agent_id: row.agent_id,
    action: parse(row.action),
    decision: row.decision,
    reasons: parse(row.reasons),
    approval_id: row.approval_id,
    policy_trace_json: row.policy_trace,
    meta_json: row.meta,
  };
}

export function isoInstant(value: string, name: string): string {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new InvalidAuditQueryError(`${name} is not an ISO 8601 date-time: ${value}`);
  return new Date(time).toISOString();
}

/** The cursor of the page after the record `seq` (for a page cut short by its caller). */
export function cursorAfterRecord(seq: number): string {
  return encodeCursor(seq);
}

export function encodeCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ before_seq: seq })).toString("base64url");
}

export function decodeCursor(cursor: string): number {
  try {
    const { before_seq } = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { before_seq: unknown };
    if (Number.isSafeInteger(before_seq)) return before_seq as number;
  } catch {
    // fall through
  }
  throw new InvalidAuditQueryError("cursor is not one this API issued");
}
