// The audit record as a table row, and the cursor and instant codecs of its queries: one codec for SQLite and
// PostgreSQL.
import type { AuditRecord, AuditRecordKind, Decision } from "./record";

export class InvalidAuditQueryError extends Error {}

export interface Row {
  org_id: string;
  seq: number;
  kind: AuditRecordKind;
  interaction_id: string;
  timestamp: string;
  uapk_id: string | null;
  agent_id: string | null;
  action: string | null;
  decision: Decision | null;
  reasons: string | null;
  policy_trace: string | null;
  approval_id: string | null;
  executed: number | null;
  result: string | null;
  meta: string | null;
  prev_hash: string;
  kid: string;
  hash: string;
  /** "" stands for null: the column predates unsigned records (NOT NULL). */
  signature: string;
}

/** A record as a table row (JSON columns as text, `executed` as 0/1): one codec for SQLite and PostgreSQL. */
export function toRow(record: AuditRecord): Row {
  const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));
  return {
    ...record,
    action: json(record.action),
    reasons: json(record.reasons),
    policy_trace: json(record.policy_trace),
    result: json(record.result),
    meta: json(record.meta),
    executed: record.executed === null ? null : record.executed ? 1 : 0,
    // The column predates unsigned records (NOT NULL): "" stands for null there.
    signature: record.signature ?? "",
  };
}

export function fromRow(row: Row): AuditRecord {
  const parse = (text: string | null) => (text === null ? null : JSON.parse(text));
  return {
    org_id: row.org_id,
    seq: row.seq,
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
    executed: row.executed === null ? null : row.executed === 1,
    result: parse(row.result),
    meta: parse(row.meta),
    prev_hash: row.prev_hash,
    kid: row.kid,
    hash: row.hash,
    signature: row.signature === "" ? null : row.signature,
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
