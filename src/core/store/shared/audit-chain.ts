// The audit chain in the shared store: one hash chain per org, `seq` 1, 2, 3… without gaps, however many nodes
// append. Every append runs in a transaction that first takes the org's chain lock — on PostgreSQL a
// transaction-scoped advisory lock (`pg_advisory_xact_lock`) keyed by the org — then reads the head and
// inserts the next record; a second node's append waits for the first to commit, so it can never read a
// stale head (no fork) and a rolled-back append leaves no hole (no gap). The primary key (org_id, seq) stays
// the last line of defence. On SQLite the Kysely driver's single connection already serialises transactions.
// Records have the exact shape of src/core/audit's, so `verifyRecords` and `gatehouse audit verify` check both.
// What each kind of record holds: src/core/audit/record-content.ts (shared with the embedded chain); grouped intents, decisions and outcomes: ./audit-grouped.ts.
import { sql } from "kysely";
import {
  type ApprovalDecisionInput,
  type ApprovalRefusalInput,
  type AuditListFilter,
  type AuditPage,
  type DecisionInput,
  decodeCursor,
  encodeCursor,
  type IntentInput,
  InvalidAuditQueryError,
  isoInstant,
  type OutcomeInput,
  type TokenRecordInput,
  toRow,
} from "../../audit/audit-log";
import { fromRow, fromStoredRow } from "../../audit/audit-rows";
import { type ChainHead, signChainHead } from "../../audit/chain-head";
import { chainPages, exportJsonlPages } from "../../audit/export-pages";
import { type AuditRecord, GENESIS_HASH, hashRecord } from "../../audit/record";
import {
  approvalContent,
  type Content,
  decisionContent,
  type InteractionRow,
  intentContent,
  outcomeContent,
  refusalContent,
  sameRefusal,
  tokenContent,
} from "../../audit/record-content";
import { stampFor } from "../../audit/step-back";
import {
  type ChainVerification,
  DEFAULT_MAX_STEP_BACK_MS,
  type VerifyOptions,
  verifyChainPages,
} from "../../audit/verify";
import type { ActiveSigningKey, PublicJwk } from "../../keys";
import type { BudgetSlot } from "../../policy/budget-counters";
import type { AnyKysely } from "../postgres";
import {
  createGroupedAppends,
  type HashedRecord,
  type IntentGuard,
  type IntentTaken,
  insertRecords,
  signedNow,
} from "./audit-grouped";
import {
  type ChainLink,
  lockOrgChain,
  type SharedGroupCommit,
  sharedGroupCommit,
  type Trx,
  trxState,
} from "./group-commit";
import type { SharedSigningKeys } from "./signing-keys";

export interface SharedAuditChain {
  /** Appends inside `trx` when given (e.g. the reservation's transaction: intent + budget + approval). */
  appendIntent(input: IntentInput, trx?: Trx): Promise<AuditRecord>;
  appendDecision(input: DecisionInput, trx?: Trx): Promise<AuditRecord>;
  /** Refused when the interaction has no intent or already has its outcome. */
  appendOutcome(input: OutcomeInput, trx?: Trx): Promise<AuditRecord>;
  /** An approval verdict, inside the transaction that stores it (approve / deny / expiry). */
  appendApprovalDecision(input: ApprovalDecisionInput, trx?: Trx): Promise<AuditRecord>;
  /**
   * A refused attempt at an approval (not a verdict: kind `refusal`); the record of the same approval, operator and
   * code when one is already in the chain (nothing appended: see sameRefusal).
   */
  appendApprovalRefusal(input: ApprovalRefusalInput): Promise<AuditRecord>;
  /** A capability token issued or revoked, inside `trx` when given (the token's own write). */
  appendTokenRecord(input: TokenRecordInput, trx?: Trx): Promise<AuditRecord>;
  /**
   * A reservation's intent in this node's next group commit, with one unit of each budget slot taken in the same
   * transaction (all or none: an exhausted slot writes nothing and is answered), and its `guard` (see IntentGuard).
   * Settles after the COMMIT.
   */
  appendIntentGrouped(input: IntentInput, slots: BudgetSlot[], guard?: IntentGuard): Promise<IntentTaken>;
  /** Decisions and outcomes in this node's next group commit (./group-commit.ts). */
  appendDecisionGrouped(input: DecisionInput): Promise<AuditRecord>;
  appendOutcomeGrouped(input: OutcomeInput): Promise<AuditRecord>;
  /**
   * One org's chain in order, up to its last record as the call starts, a page of records at a time with a turn of
   * the event loop between pages (src/core/audit/export-pages.ts). There is no read of a whole chain at once: a
   * long chain would be held in the node's memory.
   */
  chainPages(orgId: string): AsyncIterable<AuditRecord[]>;
  /** The head signed by the audit key, read under the chain lock (seq 0 and the genesis hash when empty). */
  signedHead(orgId: string): Promise<ChainHead>;
  verify(orgId: string): Promise<ChainVerification>;
  verifyChain(orgId: string): Promise<ChainVerification>;
  /** Newest first. */
  list(orgId: string, filter?: AuditListFilter): Promise<AuditPage>;
  getInteraction(orgId: string, interactionId: string): Promise<AuditRecord[]>;
  /**
   * One JSON record per line, chain order, then the signed head, a page of records at a time
   * (src/core/audit/export-pages.ts); there is no export of the whole chain at once.
   */
  exportJsonlStream(orgId: string): AsyncIterable<string>;
  publicJwks(): Promise<{ keys: PublicJwk[] }>;
}

const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

export function createSharedAuditChain(
  db: AnyKysely,
  keys: SharedSigningKeys,
  options: { now?: () => Date; groups?: SharedGroupCommit; verify?: VerifyOptions } = {},
): SharedAuditChain {
  const now = options.now ?? (() => new Date());
  const groups = options.groups ?? sharedGroupCommit(db);
  const lockChain = lockOrgChain;
  const maxStepBackMs = options.verify?.maxStepBackMs ?? DEFAULT_MAX_STEP_BACK_MS;

  /**
   * The org's next record, hashed but not signed yet, its head remembered by the transaction (the caller inserts
   * it): the canonical bytes a signature covers and the key that signs them come with it.
   */
  async function nextHashed(trx: Trx, orgId: string, content: Content): Promise<HashedRecord> {
    await lockChain(trx, orgId);
    const state = trxState(trx);
    let head: ChainLink | undefined = state.heads.get(orgId);
    let signingKey = state.signingKeys.get("audit") as ActiveSigningKey | undefined;
    if (!head) {
      // The head and the active key's id in one round trip (read under the chain lock, so the head is current).
      const { rows } = await sql<{ seq: number | null; hash: string | null; at: string | null; kid: string | null }>`
        SELECT
          (SELECT seq FROM audit_records WHERE org_id = ${orgId} ORDER BY seq DESC LIMIT 1) AS seq,
          (SELECT hash FROM audit_records WHERE org_id = ${orgId} ORDER BY seq DESC LIMIT 1) AS hash,
          (SELECT timestamp FROM audit_records WHERE org_id = ${orgId} ORDER BY seq DESC LIMIT 1) AS at,
          (SELECT kid FROM signing_keys WHERE purpose = ${keys.purpose} AND status = 'active') AS kid`.execute(trx);
      const row = rows[0];
      head =
        row?.seq === null || row?.seq === undefined
          ? undefined
          : { seq: Number(row.seq), hash: row.hash as string, ms: Date.parse(row.at as string) };
      signingKey ??= await keys.activeKey(trx, row?.kid ?? undefined);
    }
    const at = stampFor(orgId, content.kind, head, now(), maxStepBackMs);
    signingKey ??= await keys.activeKey(trx);
    state.signingKeys.set("audit", signingKey);
    const { hashed, body, texts } = hashRecord({
      org_id: orgId,
      seq: (head?.seq ?? 0) + 1,
      timestamp: at.toISOString(),
      ...content,
      prev_hash: head?.hash ?? GENESIS_HASH,
      kid: signingKey.kid,
    });
    state.heads.set(orgId, { seq: hashed.seq, hash: hashed.hash, ms: at.getTime() });
    return { record: hashed, body, privateKey: signingKey.privateKey, texts };
  }

  const grouped = createGroupedAppends(groups, nextHashed);

  /** The org's next record, signed (an append on its own; grouped appends sign once per batch). */
  async function appendIn(trx: Trx, orgId: string, content: Content): Promise<AuditRecord> {
    const hashed = await nextHashed(trx, orgId, content);
    const record = signedNow(hashed);
    await insertRecords(trx, [toRow(record, hashed.texts)]);
    return record;
  }

  const append = (orgId: string, content: Content, trx?: Trx) =>
    trx ? appendIn(trx, orgId, content) : db.transaction().execute((t) => appendIn(t, orgId, content));

  async function outcomeIn(trx: Trx, input: OutcomeInput): Promise<AuditRecord> {
    await lockChain(trx, input.org_id); // the intent check and the append under one lock: no second outcome
    const records = await trx
      .selectFrom("audit_records")
      .select(["kind", "uapk_id", "agent_id", "decision", "approval_id"])
      .where("org_id", "=", input.org_id)
      .where("interaction_id", "=", input.interaction_id)
      .execute();
    return appendIn(trx, input.org_id, outcomeContent(input, records as InteractionRow[]));
  }

  const api: SharedAuditChain = {
    appendIntent: (input, trx) => append(input.org_id, intentContent(input), trx),

    appendDecision: (input, trx) => append(input.org_id, decisionContent(input), trx),

    appendOutcome: (input, trx) => (trx ? outcomeIn(trx, input) : db.transaction().execute((t) => outcomeIn(t, input))),

    appendApprovalDecision: (input, trx) => append(input.org_id, approvalContent(input), trx),
    appendApprovalRefusal: (input) => db.transaction().execute((t) => refusalIn(t, input, appendIn)),
    appendTokenRecord: (input, trx) => append(input.org_id, tokenContent(input), trx),

    appendIntentGrouped: (input, slots, guard) => grouped.intent(input, slots, guard),
    appendDecisionGrouped: (input) => grouped.decision(input),
    appendOutcomeGrouped: (input) => grouped.outcome(input),

    async *chainPages(orgId) {
      // Rows as stored (fromStoredRow), as the verification reads them.
      const stored = (fromSeq: number, limit: number) => chainFrom(db, orgId, fromSeq, limit, fromStoredRow);
      yield* chainPages(1, await lastRecord(db, orgId), stored);
    },

    signedHead(orgId) {
      return db.transaction().execute(async (trx) => {
        await lockChain(trx, orgId);
        const head = await trx
          .selectFrom("audit_records")
          .select(["seq", "hash"])
          .where("org_id", "=", orgId)
          .orderBy("seq", "desc")
          .limit(1)
          .executeTakeFirst();
        return signChainHead(
          {
            org_id: orgId,
            seq: Number(head?.seq ?? 0),
            hash: (head?.hash as string | undefined) ?? GENESIS_HASH,
            signed_at: now().toISOString(),
          },
          await keys.activeKey(trx),
        );
      });
    },

    async verify(orgId) {
      // Up to the head as it is now, a page at a time: read whole, a long chain was held in the node's memory.
      const keyOf = (kid: string) => keys.publicKey(kid);
      return verifyChainPages(api.chainPages(orgId), keyOf, options.verify);
    },

    verifyChain(orgId) {
      return this.verify(orgId);
    },

    list: (orgId, filter = {}) => listRecords(db, orgId, filter),

    async getInteraction(orgId, interactionId) {
      const rows = await db
        .selectFrom("audit_records")
        .selectAll()
        .where("org_id", "=", orgId)
        .where("interaction_id", "=", interactionId)
        .orderBy("seq")
        .execute();
      return rows.map(fromRow);
    },

    async *exportJsonlStream(orgId) {
      yield* exportJsonlPages(await api.signedHead(orgId), (fromSeq, limit) => chainFrom(db, orgId, fromSeq, limit));
    },

    publicJwks: () => keys.publicJwks(),
  };
  return api;
}

/** The org's last committed record ({seq: 0} for an empty chain): where a verification stops. */
async function lastRecord(db: AnyKysely, orgId: string): Promise<{ seq: number }> {
  const row = await db
    .selectFrom("audit_records")
    .select("seq")
    .where("org_id", "=", orgId)
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
  return { seq: row ? Number(row.seq) : 0 };
}

/**
 * Up to `limit` of the org's records from `fromSeq` on, chain order: a page of the export, the verification or an
 * evidence bundle's proof. The limit is not optional: without one this read the whole chain from `fromSeq`.
 */
export async function chainFrom(
  db: AnyKysely,
  orgId: string,
  fromSeq: number,
  limit: number,
  toRecord: typeof fromRow = fromRow,
): Promise<AuditRecord[]> {
  const rows = await db
    .selectFrom("audit_records")
    .selectAll()
    .where("org_id", "=", orgId)
    .where("seq", ">=", fromSeq)
    .orderBy("seq")
    .limit(limit)
    .execute();
  return rows.map(toRecord);
}

/** One page of the org's records, newest first. */
async function listRecords(db: AnyKysely, orgId: string, filter: AuditListFilter): Promise<AuditPage> {
  let query = db.selectFrom("audit_records").selectAll().where("org_id", "=", orgId);
  if (filter.agent_id !== undefined) query = query.where("agent_id", "=", filter.agent_id);
  if (filter.decision !== undefined) query = query.where("decision", "=", filter.decision);
  if (filter.kind !== undefined) query = query.where("kind", "=", filter.kind);
  if (filter.since !== undefined) query = query.where("timestamp", ">=", isoInstant(filter.since, "since"));
  if (filter.until !== undefined) query = query.where("timestamp", "<", isoInstant(filter.until, "until"));
  if (filter.cursor !== undefined) query = query.where("seq", "<", decodeCursor(filter.cursor));
  const limit = filter.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw new InvalidAuditQueryError(`limit must be an integer between 1 and ${MAX_PAGE}`);
  // One extra row tells whether there is a next page without a COUNT.
  const rows = await query
    .orderBy("seq", "desc")
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit).map(fromRow);
  const last = page.at(-1);
  return { records: page, next_cursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
}

/**
 * A refusal unless the same one (approval, operator, code: sameRefusal) is in the chain already, then that one. The
 * interaction's earlier refusals are read under the chain lock, then appended: racing repeats write one record.
 */
async function refusalIn(
  trx: Trx,
  input: ApprovalRefusalInput,
  appendIn: (trx: Trx, orgId: string, content: Content) => Promise<AuditRecord>,
): Promise<AuditRecord> {
  await lockOrgChain(trx, input.org_id);
  const refusals = await trx
    .selectFrom("audit_records")
    .selectAll()
    .where("org_id", "=", input.org_id)
    .where("interaction_id", "=", input.interaction_id)
    .where("kind", "=", "refusal")
    .orderBy("seq")
    .execute();
  const earlier = sameRefusal(refusals.map(fromStoredRow), input);
  return earlier ?? appendIn(trx, input.org_id, refusalContent(input));
}
