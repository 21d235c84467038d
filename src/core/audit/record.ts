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
import { createHash, sign, verify, type KeyObject } from "node:crypto";
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
 */
export type AuditRecordKind = "intent" | "outcome" | "decision" | "approval";

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

export function hashedBody(record: UnsignedAuditRecord): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const field of HASHED_FIELDS) body[field] = record[field] ?? null;
  return body;
}

export function recordHash(record: UnsignedAuditRecord): string {
  return sha256Canonical(hashedBody(record));
}

export function signRecord(record: UnsignedAuditRecord, privateKey: KeyObject): AuditRecord {
  const { hashed, body } = hashRecord(record);
  return { ...hashed, signature: signBody(body, privateKey) };
}

/** The record with its hash, and the canonical bytes a signature covers (hashed once, signed now or later). */
export function hashRecord(record: UnsignedAuditRecord): { hashed: Omit<AuditRecord, "signature">; body: Buffer } {
  // Canonicalised once: the hash (what recordHash computes) and the signature cover the same UTF-8 bytes.
  const body = Buffer.from(canonicalJson(hashedBody(record)), "utf8");
  return { hashed: { ...record, hash: createHash("sha256").update(body).digest("hex") }, body };
}

export function signBody(body: Buffer, privateKey: KeyObject): string {
  return sign(null, body, privateKey).toString("base64url");
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

/** JSON round trip: what gets hashed is exactly what reading the row back yields (no undefined, no Dates). */
export function jsonValue(value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}
