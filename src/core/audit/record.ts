// The audit record: its stored shape, its hash and its signature.
//
// hash      = SHA-256 (hex) of the RFC 8785 canonical JSON of every field except `hash` and `signature`
//             (so `seq`, `prev_hash` and `kid` are covered: reordering, splicing or re-attributing a record
//             changes its hash).
// signature = Ed25519 over the same canonical bytes, base64url, by the key named in `kid` — or null on a record
//             written inside a group commit that is not the group's last record of its org: the group's last
//             record is signed, and its hash covers `prev_hash`, which covers the record before it, and so on.
//             One signature per group commit proves every record of the group (verify.ts: a chain never ends
//             on an unsigned record).
// prev_hash = the previous record's `hash` in the same org's chain; GENESIS_HASH for seq 1.
import { hash, type KeyObject, sign, verify } from "node:crypto";
import { canonicalJson, sha256Canonical } from "./canonical";

export const GENESIS_HASH = "0".repeat(64);

import type { Decision } from "../policy/types";

export type { Decision };

/**
 * intent   — written BEFORE a connector runs (decision ALLOW): if the process dies mid-call, the log still
 *            shows the side effect may have happened.
 * outcome  — written after the connector returns (or fails), pointing at the intent's interaction_id.
 * decision — a DENY, an ESCALATE, or an evaluation (dry run) that never reaches a connector.
 * approval — an approval's verdict, in the interaction that ESCALATEd: `decision` ALLOW (approved by an
 *            operator) or DENY (denied, or expired: `decided_by` null), `meta` {approval_status, decided_by,
 *            reason}. An approved record
 *            authorises nothing by itself: the agent's re-submission is a new interaction (intent/outcome).
 * refusal  — an attempt at an approval the gateway refused (an operator approving their own request), in the
 *            interaction that ESCALATEd: `decision` DENY, `meta` {refused, attempted, attempted_by}. Not a verdict:
 *            the approval's status is unchanged, and is read from `approval` records only.
 * token_issued / token_revoked — an operator issued or revoked a capability token, in the interaction named by the
 *            token's id: no action, no decision, `meta` what the token is and who is accountable (never the JWT).
 */
export type AuditRecordKind =
  | "intent"
  | "outcome"
  | "decision"
  | "approval"
  | "refusal"
  | "token_issued"
  | "token_revoked";

export interface UnsignedAuditRecord {
  org_id: string;
  seq: number;
  kind: AuditRecordKind;
  interaction_id: string;
  timestamp: string;
  uapk_id: string | null;
  agent_id: string | null;
  action: unknown;
  decision: Decision | null;
  reasons: unknown;
  policy_trace: unknown;
  approval_id: string | null;
  executed: boolean | null;
  result: unknown;
  meta: unknown;
  prev_hash: string;
  kid: string;
}

export interface AuditRecord extends UnsignedAuditRecord {
  hash: string;
  /** null: covered by the signature of a later record of the same chain (see the header). */
  signature: string | null;
}

/** The exact field list that is hashed; an exported line with extra or missing fields fails verification. */
export const HASHED_FIELDS = [
  "org_id",
  "seq",
  "kind",
  "interaction_id",
  "timestamp",
  "uapk_id",
  "agent_id",
  "action",
  "decision",
  "reasons",
  "policy_trace",
  "approval_id",
  "executed",
  "result",
  "meta",
  "prev_hash",
  "kid",
] as const satisfies readonly (keyof UnsignedAuditRecord)[];

// The hashed fields in canonical (RFC 8785) order: a body built in this order needs no key sort when canonicalised.
const CANONICAL_FIELD_ORDER = [...HASHED_FIELDS].sort();

export function hashedBody(record: UnsignedAuditRecord): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const field of CANONICAL_FIELD_ORDER) body[field] = record[field] ?? null;
  return body;
}

export function recordHash(record: UnsignedAuditRecord): string {
  return sha256Canonical(hashedBody(record));
}

export function signRecord(record: UnsignedAuditRecord, privateKey: KeyObject): AuditRecord {
  const { hashed, body } = hashRecord(record);
  hashed.signature = signBody(body, privateKey);
  return hashed;
}

/**
 * The record with its hash, and the canonical JSON its hash and signature cover (hashed once, signed now or later,
 * both over its UTF-8 bytes). Kept as a string: inside a group commit most records are never signed themselves.
 */
export function hashRecord(record: UnsignedAuditRecord): RecordHashing {
  // canonicalJson(hashedBody(record)), written field by field so each JSON column's text is kept for the row.
  let body = "{";
  const texts = {} as JsonColumnTexts;
  for (const field of CANONICAL_FIELD_ORDER) {
    const text = canonicalJson(record[field] ?? null);
    if (body.length > 1) body += ",";
    body += `"${field}":${text}`;
    if (isJsonColumn(field)) texts[field] = text;
  }
  body += "}";
  // crypto.hash: the one-shot digest (of the string's UTF-8 bytes), without a Hash object per record.
  return { hashed: withHash(record, hash("sha256", body, "hex")), body, texts };
}

/**
 * The record with its hash and no signature yet, written out field by field. Not `{ ...record, hash }`: a property
 * added after a spread of this many fields takes V8's slow path (about 1 µs and a dictionary-mode object per
 * record, then again for the signature: 4 µs of each execute's 2 records), where a literal is a fixed shape.
 */
function withHash(record: UnsignedAuditRecord, hashHex: string): AuditRecord {
  return {
    org_id: record.org_id,
    seq: record.seq,
    kind: record.kind,
    interaction_id: record.interaction_id,
    timestamp: record.timestamp,
    uapk_id: record.uapk_id,
    agent_id: record.agent_id,
    action: record.action,
    decision: record.decision,
    reasons: record.reasons,
    policy_trace: record.policy_trace,
    approval_id: record.approval_id,
    executed: record.executed,
    result: record.result,
    meta: record.meta,
    prev_hash: record.prev_hash,
    kid: record.kid,
    hash: hashHex,
    signature: null,
  };
}

/** The fields stored as JSON text (audit-rows.ts). */
const JSON_COLUMNS = ["action", "reasons", "policy_trace", "result", "meta"] as const;
type JsonColumn = (typeof JSON_COLUMNS)[number];
const jsonColumns: ReadonlySet<string> = new Set(JSON_COLUMNS);
const isJsonColumn = (field: string): field is JsonColumn => jsonColumns.has(field);

/**
 * Each JSON column's canonical JSON, as the record's hash covered it. The row stores these texts (audit-rows.ts
 * toRow): the values are serialised once per record, not once for the hash and again for the row.
 */
export type JsonColumnTexts = Record<JsonColumn, string>;

export interface RecordHashing {
  /** The record, its signature null: the caller signs it (sets `signature`) now, or leaves it to its group. */
  hashed: AuditRecord;
  /** The canonical JSON the hash (and the signature, now or by the group) covers. */
  body: string;
  texts: JsonColumnTexts;
}

/** Ed25519 over the UTF-8 bytes of a record's canonical JSON (hashRecord's `body`), base64url. */
export function signBody(body: string, privateKey: KeyObject): string {
  return sign(null, Buffer.from(body, "utf8"), privateKey).toString("base64url");
}

export function signatureValid(record: AuditRecord, publicKey: KeyObject): boolean {
  if (record.signature === null) return false;
  const body = Buffer.from(canonicalJson(hashedBody(record)), "utf8");
  try {
    return verify(null, body, publicKey, Buffer.from(record.signature, "base64url"));
  } catch {
    return false;
  }
}

/**
 * What a JSON round trip yields, JSON.parse(JSON.stringify(value)): what gets hashed is exactly what reading the row
 * back yields (no undefined, no Dates). The common shapes are copied in one walk (the round trip was a large share
 * of building a record); anything else takes the round trip itself.
 */
export function jsonValue(value: unknown): unknown {
  if (value === undefined) return null;
  const copy = plainJsonCopy(value, 0);
  return copy === NOT_PLAIN ? JSON.parse(JSON.stringify(value)) : copy;
}

/** plainJsonCopy met something whose round trip it does not reproduce itself. */
const NOT_PLAIN = Symbol("not plain JSON");
/** Deeper than this, the round trip decides (its own limits, its TypeError on a cycle). */
const MAX_PLAIN_DEPTH = 64;

/**
 * The round trip of plain data: null, booleans, strings, numbers (-0 → 0, non-finite → null), arrays (holes,
 * undefined, functions and symbols → null) and objects of Object.prototype or null prototype (undefined, function
 * and symbol members dropped), without toJSON. NOT_PLAIN for anything else: Dates and other class instances, boxed
 * primitives, bigints, a `__proto__` own key (which JSON.parse defines but an assignment would not).
 */
function plainJsonCopy(value: unknown, depth: number): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? (value === 0 ? 0 : value) : null;
    case "object":
      if (depth > MAX_PLAIN_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === "function") return NOT_PLAIN;
      if (Array.isArray(value))
        return Object.getPrototypeOf(value) === Array.prototype ? arrayCopy(value, depth) : NOT_PLAIN;
      return isPlainObject(value) ? objectCopy(value as Record<string, unknown>, depth) : NOT_PLAIN;
    default:
      return NOT_PLAIN;
  }
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** JSON's rule: an array item with no JSON form (undefined, a function, a symbol) becomes null. */
const droppedByJson = (member: unknown) =>
  member === undefined || typeof member === "function" || typeof member === "symbol";

function arrayCopy(items: unknown[], depth: number): unknown {
  const copy: unknown[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const itemCopy = droppedByJson(item) ? null : plainJsonCopy(item, depth + 1);
    if (itemCopy === NOT_PLAIN) return NOT_PLAIN;
    copy.push(itemCopy);
  }
  return copy;
}

function objectCopy(object: Record<string, unknown>, depth: number): unknown {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(object)) {
    if (key === "__proto__") return NOT_PLAIN;
    const member = object[key];
    if (droppedByJson(member)) continue;
    const memberCopy = plainJsonCopy(member, depth + 1);
    if (memberCopy === NOT_PLAIN) return NOT_PLAIN;
    copy[key] = memberCopy;
  }
  return copy;
}
