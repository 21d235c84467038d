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

import { type ActiveSigningKey, type PublicJwk as AuditPublicJwk, createSigningKeyStore } from "../keys";
import { groupCommit, type OpenGroup, openGroupOf } from "../store/group-commit";
import type { Db } from "../store/sqlite";
import type {
  ApprovalDecisionInput,
  ApprovalRefusalInput,
  AuditListFilter,
  AuditPage,
  DecisionInput,
  IntentInput,
  OutcomeInput,
  RecordedAction,
  TokenRecordInput,
} from "./audit-inputs";
import { actionRecordsOf, listRecords } from "./audit-queries";
import { fromRow, fromStoredRow, toRow } from "./audit-rows";
import { type AuditStatements, auditStatements } from "./audit-statements";
import { type ChainHead, signChainHead } from "./chain-head";
import { chainPages, exportJsonlPages } from "./export-pages";
import { groupSigner } from "./group-signature";
import { type AuditRecord, GENESIS_HASH, hashRecord, signBody, type UnsignedAuditRecord } from "./record";
import {
  approvalContent,
  type Content,
  decisionContent,
  intentContent,
  outcomeContent,
  refusalContent,
  sameRefusal,
  tokenContent,
} from "./record-content";
import { type ClockWitness, stampFor } from "./step-back";
import { type ChainVerification, DEFAULT_MAX_STEP_BACK_MS, type VerifyOptions, verifyChainPages } from "./verify";

export type {
  ActionInput,
  ApprovalDecisionInput,
  ApprovalRefusalInput,
  AuditListFilter,
  AuditPage,
  DecisionInput,
  IntentInput,
  OutcomeInput,
  RecordedAction,
  TokenIssuedInput,
  TokenRecordInput,
  TokenRevokedInput,
} from "./audit-inputs";
// The row codec and query helpers, where callers have always imported them from.
export {
  cursorAfterRecord,
  decodeCursor,
  encodeCursor,
  InvalidAuditQueryError,
  isoInstant,
  toRow,
} from "./audit-rows";

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
  /**
   * A refused attempt at an approval (not a verdict: kind `refusal`); the record of the same approval, operator and
   * code when one is already in the chain (nothing appended: see sameRefusal).
   */
  appendApprovalRefusal(input: ApprovalRefusalInput): AuditRecord;
  /** A capability token issued or revoked; inside the caller's transaction when there is one (the token's). */
  appendTokenRecord(input: TokenRecordInput): AuditRecord;
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
    filter: { uapk_id: string; since?: string; until?: string; after_seq?: number; limit: number },
  ): RecordedAction[];
  /** Up to `limit` records from `fromSeq` on, chain order: a page of the export or of an evidence bundle's proof. */
  chainPage(org_id: string, fromSeq: number, limit: number): AuditRecord[];
  /** The org's chain verified up to its head as the call starts, a page at a time. */
  verifyChain(org_id: string): Promise<ChainVerification>;
  /**
   * One JSON record per line, chain order, then the signed head `{"chain_head": …}`, for `gatehouse audit verify`: a
   * page of records at a time with a turn of the event loop between pages (./export-pages.ts). There is no export
   * of the whole chain at once: read in one synchronous pass, a long chain stopped every request of the node.
   */
  exportJsonlStream(org_id: string): AsyncIterable<string>;
  publicJwks(): { keys: AuditPublicJwk[] };
  rotateSigningKey(): { kid: string; retired_kid: string | null };
}

export { newInteractionId } from "./interaction-id";

export function createAuditLog(
  db: Db,
  options: {
    now?: () => Date;
    /** A monotonic clock, ms (default performance.now): what really elapsed, against which a step of `now` shows. */
    monotonicNow?: () => number;
    verify?: VerifyOptions;
  } = {},
): AuditLog {
  const now = options.now ?? (() => new Date());
  // The verifier's step back: an append never writes a record the chain's verification would reject (./step-back.ts).
  const maxStepBackMs = options.verify?.maxStepBackMs ?? DEFAULT_MAX_STEP_BACK_MS;
  const witness = clockWitness(now, options.monotonicNow ?? (() => performance.now()), maxStepBackMs);
  const keys = createSigningKeyStore(db, { purpose: "audit", now });

  const statements = auditStatements(db);
  const head = (org_id: string) => statements.head.get({ org_id });
  // Group commit (see AuditLog.appendDecisionGrouped and src/core/store/group-commit.ts). Under load every
  // commit costs a WAL write and its share of a checkpoint; one transaction for a turn's records pays that once.
  // It is the database's one group commit: the engine's reservations of the same turn join the same transaction.
  const grouped = groupCommit(db);

  const { appendSerialised, appendOutcome, appendDecision, appendRefusal } = recordAppender(db, keys, statements, {
    now,
    maxStepBackMs,
    witness,
  });

  return {
    appendIntent: (input) => appendSerialised(input.org_id, intentContent(input)),

    appendOutcome,
    appendDecision,
    appendOutcomeGrouped: (input) => grouped.run(() => appendOutcome(input)),
    appendDecisionGrouped: (input) => grouped.run(() => appendDecision(input)),

    appendApprovalDecision: (input) => appendSerialised(input.org_id, approvalContent(input)),
    appendApprovalRefusal: appendRefusal,
    appendTokenRecord: (input) => appendSerialised(input.org_id, tokenContent(input)),

    list: (org_id, filter = {}) => listRecords(db, org_id, filter),

    getInteraction(org_id, interaction_id) {
      return statements.interaction.all({ org_id, interaction_id }).map(fromRow);
    },

    head(org_id) {
      return head(org_id) ?? null;
    },

    signedHead(org_id) {
      // Read and signed in one transaction: the head is one that existed, not a mix of two appends.
      return db.transaction(() => {
        const current = head(org_id);
        return signChainHead(
          { org_id, seq: current?.seq ?? 0, hash: current?.hash ?? GENESIS_HASH, signed_at: now().toISOString() },
          keys.activeKey(),
        );
      })();
    },

    actionRecords: (org_id, filter) => actionRecordsOf(db, org_id, filter),

    chainPage(org_id, fromSeq, limit) {
      return statements.chainPage.all({ org_id, from_seq: fromSeq, limit }).map(fromRow);
    },

    verifyChain(org_id) {
      // Up to the head as it is now, a page at a time: read in one synchronous pass, a long chain stopped every
      // other request of the node for as long as the verification took. Rows as stored (fromStoredRow).
      const stored = (from_seq: number, limit: number) =>
        statements.chainPage.all({ org_id, from_seq, limit }).map(fromStoredRow);
      const keyOf = (kid: string) => keys.publicKey(kid);
      return verifyChainPages(chainPages(1, head(org_id) ?? { seq: 0 }, stored), keyOf, options.verify);
    },

    exportJsonlStream(org_id) {
      return exportJsonlPages(this.signedHead(org_id), (from_seq, limit) => this.chainPage(org_id, from_seq, limit));
    },

    publicJwks: () => keys.publicJwks(),
    rotateSigningKey: () => {
      const { kid, previous_kid } = keys.rotate();
      return { kid, retired_kid: previous_kid };
    },
  };
}

/**
 * The embedded store's witness of its own clock (./step-back.ts stampFor): one file, one node, no database clock to
 * measure the wall clock against, so the time this process has counted since it started stands in for one — the wall
 * clock read at the start plus the monotonic time elapsed since (an NTP step, `date -s` or a resumed VM's RTC moves
 * the wall clock, never the monotonic one). A wall clock further behind it than the verifier's step back has stepped
 * back during this process. Only that direction is read: a wall clock ahead of it is as often a suspended machine
 * (the monotonic clock stops while it sleeps) as a bad step, and a forward step is not what the refusal guards.
 */
function clockWitness(now: () => Date, monotonicNow: () => number, maxStepBackMs: number): ClockWitness {
  const wallAtStart = now().getTime();
  const monotonicAtStart = monotonicNow();
  return {
    steppedBack: (atMs) => wallAtStart + (monotonicNow() - monotonicAtStart) - atMs > maxStepBackMs,
  };
}

/** A chain's head as its next append reads it: no record may be stamped far before its timestamp (./step-back.ts). */
type ChainLink = { seq: number; hash: string; timestamp: string };
const headKey = (org_id: string) => `audit-head\u0000${org_id}`;
const SIGNING_KEY = "audit-signing-key";

/**
 * The appends: each record takes the chain's head, is hashed, signed (now, or by its group commit, see
 * group-signature.ts) and inserted under SQLite's write lock.
 */
function recordAppender(
  db: Db,
  keys: ReturnType<typeof createSigningKeyStore>,
  statements: AuditStatements,
  { now, maxStepBackMs, witness }: { now: () => Date; maxStepBackMs: number; witness: ClockWitness },
) {
  const signGroupLast = groupSigner(db, statements);

  // Inside a group commit the chain's head and the active key are read by the group's first append and kept in its
  // memo: two statements less per record under load. Exact: the group holds the write lock, each append records the
  // head it wrote, and a unit that rolls back empties the memo (no unit catches a rolled-back append of its own).
  const groupHead = (group: OpenGroup, org_id: string): ChainLink | undefined => {
    const key = headKey(org_id);
    if (group.memo.has(key)) return group.memo.get(key) as ChainLink | undefined;
    const head = statements.head.get({ org_id });
    group.memo.set(key, head);
    return head;
  };
  const groupSigningKey = (group: OpenGroup): ActiveSigningKey => {
    let key = group.memo.get(SIGNING_KEY) as ActiveSigningKey | undefined;
    if (!key) {
      key = keys.activeKey();
      group.memo.set(SIGNING_KEY, key);
    }
    return key;
  };

  const appendNow = (org_id: string, content: Content): AuditRecord => {
    const group = openGroupOf(db);
    const head = group ? groupHead(group, org_id) : statements.head.get({ org_id });
    const signingKey = group ? groupSigningKey(group) : keys.activeKey();
    // Never far before the head (./step-back.ts stampFor): a before-the-fact record on a clock that stepped back during
    // this process is refused before anything is written (inside a reservation the throw rolls back its budget and
    // approval too); any other is stamped no earlier than the head (an outcome, a refusal, or after a head stamped by
    // a clock that ran ahead).
    const headTime = head && { seq: head.seq, ms: Date.parse(head.timestamp) };
    const at = stampFor(org_id, content.kind, headTime, now(), maxStepBackMs, witness);
    const unsigned: UnsignedAuditRecord = {
      org_id,
      seq: (head?.seq ?? 0) + 1,
      timestamp: at.toISOString(),
      ...content,
      prev_hash: head?.hash ?? GENESIS_HASH,
      kid: signingKey.kid,
    };
    const { hashed, body, texts } = hashRecord(unsigned);
    // Inside a group commit the group's last record of the chain is signed before the COMMIT; alone, now.
    const deferred = signGroupLast(hashed, body, signingKey.privateKey);
    if (!deferred) hashed.signature = signBody(body, signingKey.privateKey);
    statements.insert.run(toRow(hashed, texts));
    group?.memo.set(headKey(org_id), { seq: hashed.seq, hash: hashed.hash, timestamp: hashed.timestamp });
    return hashed;
  };
  const append = db.transaction(appendNow);
  // IMMEDIATE: take the write lock before reading the head (see the header comment). Inside a caller's
  // transaction (a group commit's unit, which holds the lock) no savepoint of its own: its one write, the INSERT,
  // is atomic, so a failed append leaves nothing behind (a savepoint pair per append was two statements per record).
  const appendSerialised = (org_id: string, content: Content) =>
    db.inTransaction ? appendNow(org_id, content) : append.immediate(org_id, content);

  // The intent is looked up and the outcome appended under one write lock (IMMEDIATE): no second outcome.
  const outcomeNow = (input: OutcomeInput): AuditRecord => {
    const records = statements.interactionKinds.all(input);
    return appendNow(input.org_id, outcomeContent(input, records));
  };
  const appendOutcomeOnce = db.transaction(outcomeNow);

  const appendDecision = (input: DecisionInput): AuditRecord => appendSerialised(input.org_id, decisionContent(input));
  const appendOutcome = (input: OutcomeInput): AuditRecord =>
    db.inTransaction ? outcomeNow(input) : appendOutcomeOnce.immediate(input);

  // The interaction's earlier refusals are read and the new one appended under one write lock: a repeat, even a
  // racing one, finds the first and appends nothing.
  const refusalNow = (input: ApprovalRefusalInput): AuditRecord => {
    const earlier = sameRefusal(statements.interaction.all(interactionOf(input)).map(fromRow), input);
    return earlier ?? appendNow(input.org_id, refusalContent(input));
  };
  const interactionOf = ({ org_id, interaction_id }: ApprovalRefusalInput) => ({ org_id, interaction_id });
  const appendRefusalOnce = db.transaction(refusalNow);
  const appendRefusal = (input: ApprovalRefusalInput): AuditRecord =>
    db.inTransaction ? refusalNow(input) : appendRefusalOnce.immediate(input);

  return { appendSerialised, appendOutcome, appendDecision, appendRefusal };
}
