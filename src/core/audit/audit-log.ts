// The write-ahead, hash-chained, signed audit log: one chain per org, `seq` 1, 2, 3… without gaps.
//
// Serialisation: every append runs in one `BEGIN IMMEDIATE` transaction that reads the org's head and
// inserts the next record. better-sqlite3 is synchronous, so in one process no other append can interleave;
// IMMEDIATE takes SQLite's write lock *before* the head is read, so other connections or processes on the
// same file wait (busy_timeout) instead of reading a stale head. The primary key (org_id, seq) is the last
// line of defence: a fork would be a duplicate key, never a second branch. A multi-node store (PostgreSQL)
// must do the same with a row lock on the org's head (`SELECT … FOR UPDATE`) or an advisory lock.
//
// Appends nest inside a caller's transaction (they become a savepoint), so "consume the approval + write the
// intent" can be one atomic step.
import { randomUUID } from "node:crypto";
import type { Statement } from "better-sqlite3";
import type { Db } from "../store/sqlite";
import { groupCommit } from "../store/group-commit";
import { groupSigner } from "./group-signature";
import { createSigningKeyStore, type PublicJwk as AuditPublicJwk } from "../keys";
import {
  GENESIS_HASH,
  hashRecord,
  jsonValue,
  signBody,
  type AuditRecord,
  type AuditRecordKind,
  type Decision,
  type UnsignedAuditRecord,
} from "./record";
import { boundMembers, boundValue } from "./bound";
import { canonicalJson } from "./canonical";
import { type ChainHead, signChainHead } from "./chain-head";
import { redactPaths } from "./redact";
import { verifyRecords, type ChainVerification } from "./verify";
import { fromRow, type Row, toRow } from "./audit-rows";
import { actionRecordsOf, listRecords } from "./audit-queries";

// The row codec and query helpers, where callers have always imported them from.
export {
  cursorAfterRecord,
  decodeCursor,
  encodeCursor,
  InvalidAuditQueryError,
  isoInstant,
  toRow,
} from "./audit-rows";

export interface ActionInput {
  type: string;
  tool: string;
  params?: Record<string, unknown>;
}

/** What every decision-bearing record carries (intent and decision records). */
interface DecidedInput {
  org_id: string;
  interaction_id: string;
  decision: Decision;
  reasons: unknown[];
  policy_trace: unknown;
  /** The approval consumed (intent) or created (ESCALATE decision), if any. */
  approval_id?: string | null;
  /** Tool configuration's `redact` paths (`params.…`), applied before hashing and storing. */
  redact?: readonly string[] | undefined;
  /** Free-form context worth keeping (channel, batch_id, action_id, idempotency key, risk snapshot…). */
  meta?: Record<string, unknown>;
}

/** Written before a connector runs; `decision` must be ALLOW. */
export interface IntentInput extends DecidedInput {
  uapk_id: string;
  agent_id: string;
  action: ActionInput;
}

export interface OutcomeInput {
  org_id: string;
  interaction_id: string;
  executed: boolean;
  result: unknown;
  /** Tool configuration's `redact` paths (`result.…`), e.g. `result.data.body` for an echoing tool. */
  redact?: readonly string[] | undefined;
  meta?: Record<string, unknown>;
}

/** A DENY or ESCALATE of `execute` (nothing ran); the request may not even name a manifest. */
export interface DecisionInput extends DecidedInput {
  uapk_id: string | null;
  agent_id: string | null;
  action: ActionInput | null;
}

/**
 * An approval's verdict (src/core/approvals), recorded in the escalated interaction: an operator's approve /
 * deny, or its expiry (`decided_by` null; recorded as DENY, since nothing was authorised).
 */
export interface ApprovalDecisionInput {
  org_id: string;
  /** The ESCALATE interaction that asked for the approval. */
  interaction_id: string;
  approval_id: string;
  uapk_id: string;
  agent_id: string;
  /** The approved/denied action, params redacted with the tool's `redact` paths. */
  action: ActionInput;
  /** Why the policy escalated (the approval's reasons). */
  reasons: unknown[];
  /** `cancelled`: the agent session that asked was cancelled or abandoned (decided by `gatehouse`). */
  status: "approved" | "denied" | "expired" | "cancelled";
  decided_by: string | null;
  reason?: string | null;
  redact?: readonly string[] | undefined;
}

export interface AuditListFilter {
  agent_id?: string | undefined;
  decision?: Decision | undefined;
  kind?: AuditRecordKind;
  /** Records with a reason of this code; an outcome (which stores no reasons) matches through its intent. */
  reason_code?: string;
  /** Inclusive ISO 8601 lower bound on `timestamp`. */
  since?: string | undefined;
  /** Exclusive ISO 8601 upper bound on `timestamp`. */
  until?: string | undefined;
  /** Opaque cursor from a previous page's `next_cursor`. */
  cursor?: string | undefined;
  /** 1–500, default 50. */
  limit?: number | undefined;
}

export interface AuditPage {
  records: AuditRecord[];
  next_cursor: string | null;
}

/**
 * A recorded action as shadow replay reads it: the fields it always needs parsed, the policy trace and meta kept as
 * their stored JSON text (most replays never look inside them; parsing them was a large share of the replay's time).
 */
export interface RecordedAction {
  seq: number;
  kind: AuditRecordKind;
  interaction_id: string;
  timestamp: string;
  uapk_id: string | null;
  agent_id: string | null;
  action: unknown;
  decision: Decision | null;
  reasons: unknown;
  approval_id: string | null;
  policy_trace_json: string | null;
  meta_json: string | null;
}

export interface AuditLog {
  appendIntent(input: IntentInput): AuditRecord;
  appendOutcome(input: OutcomeInput): AuditRecord;
  appendDecision(input: DecisionInput): AuditRecord;
  /**
   * Group commit: the outcome / decision records asked for during one turn of the event loop are appended in
   * ONE transaction (one commit instead of one each), each promise settling once its record is committed.
   * Same durability as the synchronous appends for a caller that awaits before answering; nothing that must
   * precede a side effect (an intent) goes this way.
   */
  appendOutcomeGrouped(input: OutcomeInput): Promise<AuditRecord>;
  appendDecisionGrouped(input: DecisionInput): Promise<AuditRecord>;
  appendApprovalDecision(input: ApprovalDecisionInput): AuditRecord;
  /** Newest first. */
  list(org_id: string, filter?: AuditListFilter): AuditPage;
  /** Every record of one interaction (intent + outcome, or the decision), in chain order. */
  getInteraction(org_id: string, interaction_id: string): AuditRecord[];
  head(org_id: string): { seq: number; hash: string } | null;
  /** The head signed by the audit key (seq 0 and the genesis hash for an empty chain). */
  signedHead(org_id: string): ChainHead;
  /**
   * The records of one agent's actions (`intent` and `decision` kinds), chain order, for shadow replay; at most
   * `limit` + 1 (so the caller can tell there were more).
   */
  actionRecords(
    org_id: string,
    filter: { uapk_id: string; since?: string; until?: string; limit: number },
  ): RecordedAction[];
  /** The records from `fromSeq` to the head, chain order (an evidence bundle's proof). */
  chainFrom(org_id: string, fromSeq: number): AuditRecord[];
  verifyChain(org_id: string): ChainVerification;
  /** One JSON record per line, chain order, then the signed head `{"chain_head": …}`, for `gatehouse audit verify`. */
  exportJsonlLines(org_id: string): IterableIterator<string>;
  exportJsonl(org_id: string): string;
  publicJwks(): { keys: AuditPublicJwk[] };
  rotateSigningKey(): { kid: string; retired_kid: string | null };
}

/** Marks in meta which stored values are summaries (hash + preview) instead of the values sent. */
function withTruncated(meta: unknown, truncated: string[]): unknown {
  if (!truncated.length) return meta;
  const base = meta !== null && typeof meta === "object" && !Array.isArray(meta) ? meta : {};
  return { ...base, truncated };
}

/** The action as stored: its params bounded (see bound.ts), and meta naming what was summarised. */
export function storedAction(action: unknown, meta: unknown): { action: unknown; meta: unknown } {
  if (action === null || typeof action !== "object") return { action, meta };
  const { params, ...rest } = action as { params?: unknown };
  if (params === undefined) return { action, meta };
  const bounded = boundMembers("params", params);
  const stored = { ...rest, params: bounded.value };
  // Identifying fields an agent controls are bounded as well (the spec bounds them at the REST boundary; the
  // sessions door and direct engine callers may not).
  for (const key of ["type", "tool", "counterparty", "jurisdiction", "currency"] as const) {
    const value = (stored as Record<string, unknown>)[key];
    if (typeof value === "string" && value.length > 1024) {
      (stored as Record<string, unknown>)[key] = boundValue(value, 1024);
      bounded.truncated.push(key);
    }
  }
  return { action: stored, meta: withTruncated(meta, bounded.truncated) };
}

/** The connector's result as stored: its data bounded, and meta naming what was summarised. */
export function storedResult(result: unknown, meta: unknown): { result: unknown; meta: unknown } {
  if (result === null || typeof result !== "object") return { result, meta };
  const truncated: string[] = [];
  const stored: Record<string, unknown> = { ...(result as Record<string, unknown>) };
  for (const [key, value] of Object.entries(stored)) {
    const bounded = key === "data" ? boundMembers("result.data", value) : { value: boundValue(value), truncated: [] };
    stored[key] = bounded.value;
    truncated.push(...(bounded.value !== value && !bounded.truncated.length ? [`result.${key}`] : bounded.truncated));
  }
  return { result: stored, meta: withTruncated(meta, truncated) };
}

export function newInteractionId(): string {
  return `int-${randomUUID()}`;
}

export function createAuditLog(db: Db, options: { now?: () => Date } = {}): AuditLog {
  const now = options.now ?? (() => new Date());
  const keys = createSigningKeyStore(db, { purpose: "audit", now });

  const headStmt = db.prepare<[string], { seq: number; hash: string }>(
    "SELECT seq, hash FROM audit_records WHERE org_id = ? ORDER BY seq DESC LIMIT 1",
  );
  // INDEXED BY: without table statistics SQLite prefers walking the org's whole chain by primary key (it
  // satisfies ORDER BY seq), which made every outcome append O(chain length). The interaction index is already
  // ordered by seq (a WITHOUT ROWID index ends with the primary key), so no sort is needed either.
  const interactionStmt = db.prepare<[string, string], Row>(
    "SELECT * FROM audit_records INDEXED BY audit_records_interaction WHERE org_id = ? AND interaction_id = ? ORDER BY seq",
  );
  const chainStmt = db.prepare<[string], Row>("SELECT * FROM audit_records WHERE org_id = ? ORDER BY seq");
  // Group commit (see AuditLog.appendDecisionGrouped and src/core/store/group-commit.ts). Under load every
  // commit costs a WAL write and its share of a checkpoint; one transaction for a turn's records pays that once.
  const grouped = groupCommit(db);

  const { appendSerialised, appendOutcome, appendDecision, redactedAction } = recordAppender(db, keys, now, headStmt);

  return {
    appendIntent(input) {
      if (input.decision !== "ALLOW") {
        throw new Error(`appendIntent: an intent records an ALLOW about to execute, got ${input.decision}`);
      }
      return appendSerialised(input.org_id, {
        kind: "intent",
        interaction_id: input.interaction_id,
        uapk_id: input.uapk_id,
        agent_id: input.agent_id,
        ...storedAction(redactedAction(input.action, input.redact), jsonValue(input.meta)),
        decision: input.decision,
        reasons: jsonValue(input.reasons),
        policy_trace: jsonValue(input.policy_trace),
        approval_id: input.approval_id ?? null,
        executed: null,
        result: null,
      });
    },

    appendOutcome,
    appendDecision,
    appendOutcomeGrouped: (input) => grouped.run(() => appendOutcome(input)),
    appendDecisionGrouped: (input) => grouped.run(() => appendDecision(input)),

    appendApprovalDecision(input) {
      return appendSerialised(input.org_id, {
        kind: "approval",
        interaction_id: input.interaction_id,
        uapk_id: input.uapk_id,
        agent_id: input.agent_id,
        action: redactedAction(input.action, input.redact),
        decision: input.status === "approved" ? "ALLOW" : "DENY",
        reasons: jsonValue(input.reasons),
        policy_trace: null,
        approval_id: input.approval_id,
        executed: false,
        result: null,
        meta: { approval_status: input.status, decided_by: input.decided_by, reason: input.reason ?? null },
      });
    },

    list: (org_id, filter = {}) => listRecords(db, org_id, filter),

    getInteraction(org_id, interaction_id) {
      return interactionStmt.all(org_id, interaction_id).map(fromRow);
    },

    head(org_id) {
      return headStmt.get(org_id) ?? null;
    },

    signedHead(org_id) {
      // Read and signed in one transaction: the head is one that existed, not a mix of two appends.
      return db.transaction(() => {
        const head = headStmt.get(org_id);
        return signChainHead(
          { org_id, seq: head?.seq ?? 0, hash: head?.hash ?? GENESIS_HASH, signed_at: now().toISOString() },
          keys.activeKey(),
        );
      })();
    },

    actionRecords: (org_id, filter) => actionRecordsOf(db, org_id, filter),

    chainFrom(org_id, fromSeq) {
      return db
        .prepare<[string, number], Row>("SELECT * FROM audit_records WHERE org_id = ? AND seq >= ? ORDER BY seq")
        .all(org_id, fromSeq)
        .map(fromRow);
    },

    verifyChain(org_id) {
      return verifyRecords(
        (function* () {
          for (const row of chainStmt.iterate(org_id)) yield fromRow(row);
        })(),
        (kid) => keys.publicKey(kid),
      );
    },

    *exportJsonlLines(org_id) {
      // Canonical JSON (RFC 8785) per line: `audit verify` refuses any line that is not exactly that. The head is
      // signed first, so records appended during the export come after it and are simply not part of this one.
      const head = this.signedHead(org_id);
      for (const row of chainStmt.iterate(org_id)) {
        if (row.seq > head.seq) break;
        yield `${canonicalJson(fromRow(row))}\n`;
      }
      yield `${canonicalJson({ chain_head: head })}\n`;
    },

    exportJsonl(org_id) {
      return Array.from(this.exportJsonlLines(org_id)).join("");
    },

    publicJwks: () => keys.publicJwks(),
    rotateSigningKey: () => {
      const { kid, previous_kid } = keys.rotate();
      return { kid, retired_kid: previous_kid };
    },
  };
}

type Content = Omit<UnsignedAuditRecord, "org_id" | "seq" | "timestamp" | "prev_hash" | "kid">;

/**
 * The appends: each record takes the chain's head, is hashed, signed (now, or by its group commit, see
 * group-signature.ts) and inserted under SQLite's write lock.
 */
function recordAppender(
  db: Db,
  keys: ReturnType<typeof createSigningKeyStore>,
  now: () => Date,
  headStmt: Statement<[string], { seq: number; hash: string }>,
) {
  const insertStmt = db.prepare(
    `INSERT INTO audit_records (org_id, seq, kind, interaction_id, timestamp, uapk_id, agent_id, action, decision,
       reasons, policy_trace, approval_id, executed, result, meta, prev_hash, kid, hash, signature)
     VALUES (@org_id, @seq, @kind, @interaction_id, @timestamp, @uapk_id, @agent_id, @action, @decision,
       @reasons, @policy_trace, @approval_id, @executed, @result, @meta, @prev_hash, @kid, @hash, @signature)`,
  );
  // What an outcome needs of its interaction's records: the columns it copies, none of the JSON to parse.
  const interactionKindsStmt = db.prepare<
    [string, string],
    Pick<Row, "kind" | "uapk_id" | "agent_id" | "decision" | "approval_id">
  >(
    "SELECT kind, uapk_id, agent_id, decision, approval_id FROM audit_records INDEXED BY audit_records_interaction WHERE org_id = ? AND interaction_id = ? ORDER BY seq",
  );

  const signGroupLast = groupSigner(db, headStmt);

  const append = db.transaction((org_id: string, content: Content): AuditRecord => {
    const head = headStmt.get(org_id);
    const signingKey = keys.activeKey();
    const unsigned: UnsignedAuditRecord = {
      org_id,
      seq: (head?.seq ?? 0) + 1,
      timestamp: now().toISOString(),
      ...content,
      prev_hash: head?.hash ?? GENESIS_HASH,
      kid: signingKey.kid,
    };
    const { hashed, body } = hashRecord(unsigned);
    // Inside a group commit the group's last record of the chain is signed before the COMMIT; alone, now.
    const deferred = signGroupLast(hashed, body, signingKey.privateKey);
    const record: AuditRecord = { ...hashed, signature: deferred ? null : signBody(body, signingKey.privateKey) };
    insertStmt.run(toRow(record));
    return record;
  });
  // IMMEDIATE: take the write lock before reading the head (see the header comment).
  const appendSerialised = (org_id: string, content: Content) => append.immediate(org_id, content);

  // The intent is looked up and the outcome appended under one write lock (IMMEDIATE): no second outcome.
  const appendOutcomeOnce = db.transaction((input: OutcomeInput): AuditRecord => {
    const records = interactionKindsStmt.all(input.org_id, input.interaction_id);
    const intent = records.find((r) => r.kind === "intent");
    if (!intent) throw new Error(`appendOutcome: no intent recorded for ${input.interaction_id}`);
    if (records.some((r) => r.kind === "outcome")) {
      throw new Error(`appendOutcome: outcome of ${input.interaction_id} already recorded`);
    }
    return appendSerialised(input.org_id, {
      kind: "outcome",
      interaction_id: input.interaction_id,
      uapk_id: intent.uapk_id,
      agent_id: intent.agent_id,
      action: null,
      decision: intent.decision,
      reasons: null,
      policy_trace: null,
      approval_id: intent.approval_id,
      executed: input.executed,
      ...storedResult(redactPaths("result", jsonValue(input.result), input.redact) ?? null, jsonValue(input.meta)),
    });
  });

  function appendDecision(input: DecisionInput): AuditRecord {
    return appendSerialised(input.org_id, {
      kind: "decision",
      interaction_id: input.interaction_id,
      uapk_id: input.uapk_id,
      agent_id: input.agent_id,
      ...storedAction(redactedAction(input.action, input.redact), jsonValue(input.meta)),
      decision: input.decision,
      reasons: jsonValue(input.reasons),
      policy_trace: jsonValue(input.policy_trace),
      approval_id: input.approval_id ?? null,
      executed: false,
      result: null,
    });
  }

  const appendOutcome = (input: OutcomeInput): AuditRecord => appendOutcomeOnce.immediate(input);

  function redactedAction(action: ActionInput | null, redact?: readonly string[]): unknown {
    if (!action) return null;
    const normalised = jsonValue(action) as ActionInput;
    if (normalised.params !== undefined) normalised.params = redactPaths("params", normalised.params, redact) as never;
    return normalised;
  }

  return { appendSerialised, appendOutcome, appendDecision, redactedAction };
}
