// The audit chain in the shared store: one hash chain per org, `seq` 1, 2, 3… without gaps, however many nodes
// append. Every append runs in a transaction that first takes the org's chain lock — on PostgreSQL a
// transaction-scoped advisory lock (`pg_advisory_xact_lock`) keyed by the org — then reads the head and
// inserts the next record; a second node's append waits for the first to commit, so it can never read a
// stale head (no fork) and a rolled-back append leaves no hole (no gap). The primary key (org_id, seq) stays
// the last line of defence. On SQLite the Kysely driver's single connection already serialises transactions.
// Records have the exact shape of src/core/audit's, so `verifyRecords` and `gatehouse audit verify` check both.
import { sql, type Transaction } from "kysely";
import type { ActionInput, DecisionInput, IntentInput, OutcomeInput } from "../../audit/audit-log";
import { type ChainHead, signChainHead } from "../../audit/chain-head";
import { GENESIS_HASH, jsonValue, signRecord, type AuditRecord, type UnsignedAuditRecord } from "../../audit/record";
import { redactPaths } from "../../audit/redact";
import { verifyRecords, type ChainVerification } from "../../audit/verify";
import { isSqlite } from "../migrations/dialect";
import type { AnyKysely } from "../postgres";
import type { SharedSigningKeys } from "./signing-keys";

// biome-ignore lint/suspicious/noExplicitAny: schema from the migrations.
type Trx = Transaction<any>;

type Content = Omit<UnsignedAuditRecord, "org_id" | "seq" | "timestamp" | "prev_hash" | "kid">;

export interface SharedAuditChain {
  /** Appends inside `trx` when given (e.g. the reservation's transaction: intent + budget + approval). */
  appendIntent(input: IntentInput, trx?: Trx): Promise<AuditRecord>;
  appendDecision(input: DecisionInput): Promise<AuditRecord>;
  /** Refused when the interaction has no intent or already has its outcome. */
  appendOutcome(input: OutcomeInput): Promise<AuditRecord>;
  /** One org's chain in order. */
  chain(orgId: string): Promise<AuditRecord[]>;
  /** The head signed by the audit key, read under the chain lock (seq 0 and the genesis hash when empty). */
  signedHead(orgId: string): Promise<ChainHead>;
  verify(orgId: string): Promise<ChainVerification>;
}

export function createSharedAuditChain(
  db: AnyKysely,
  keys: SharedSigningKeys,
  options: { now?: () => Date } = {},
): SharedAuditChain {
  const now = options.now ?? (() => new Date());
  const sqlite = isSqlite(db);

  async function lockChain(trx: Trx, orgId: string): Promise<void> {
    if (sqlite) return;
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`gatehouse.audit:${orgId}`}, 0))`.execute(trx);
  }

  async function appendIn(trx: Trx, orgId: string, content: Content): Promise<AuditRecord> {
    await lockChain(trx, orgId);
    const head = await trx
      .selectFrom("audit_records")
      .select(["seq", "hash"])
      .where("org_id", "=", orgId)
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    const signingKey = await keys.activeKey(trx);
    const record = signRecord(
      {
        org_id: orgId,
        seq: Number(head?.seq ?? 0) + 1,
        timestamp: now().toISOString(),
        ...content,
        prev_hash: (head?.hash as string | undefined) ?? GENESIS_HASH,
        kid: signingKey.kid,
      },
      signingKey.privateKey,
    );
    await trx.insertInto("audit_records").values(toRow(record)).execute();
    return record;
  }

  const append = (orgId: string, content: Content, trx?: Trx) =>
    trx ? appendIn(trx, orgId, content) : db.transaction().execute((t) => appendIn(t, orgId, content));

  async function chain(orgId: string): Promise<AuditRecord[]> {
    const rows = await db.selectFrom("audit_records").selectAll().where("org_id", "=", orgId).orderBy("seq").execute();
    return rows.map(fromRow);
  }

  return {
    appendIntent(input, trx) {
      if (input.decision !== "ALLOW")
        throw new Error(`appendIntent: an intent records an ALLOW, got ${input.decision}`);
      return append(
        input.org_id,
        { ...decided(input), kind: "intent", uapk_id: input.uapk_id, agent_id: input.agent_id, executed: null },
        trx,
      );
    },

    appendDecision(input) {
      return append(input.org_id, {
        ...decided(input),
        kind: "decision",
        uapk_id: input.uapk_id,
        agent_id: input.agent_id,
        executed: false,
      });
    },

    appendOutcome(input) {
      return db.transaction().execute(async (trx) => {
        await lockChain(trx, input.org_id); // the intent check and the append under one lock: no second outcome
        const records = await trx
          .selectFrom("audit_records")
          .select(["kind", "uapk_id", "agent_id", "decision", "approval_id"])
          .where("org_id", "=", input.org_id)
          .where("interaction_id", "=", input.interaction_id)
          .execute();
        const intent = records.find((r) => r.kind === "intent");
        if (!intent) throw new Error(`appendOutcome: no intent recorded for ${input.interaction_id}`);
        if (records.some((r) => r.kind === "outcome"))
          throw new Error(`appendOutcome: outcome of ${input.interaction_id} already recorded`);
        return appendIn(trx, input.org_id, {
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
          result: redactPaths("result", jsonValue(input.result), input.redact) ?? null,
          meta: jsonValue(input.meta),
        });
      });
    },

    chain,

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
      const records = await chain(orgId);
      const known = new Map<string, Awaited<ReturnType<SharedSigningKeys["publicKey"]>>>();
      for (const kid of new Set(records.map((r) => r.kid))) known.set(kid, await keys.publicKey(kid));
      return verifyRecords(records, (kid) => known.get(kid));
    },
  };
}

/** The fields every decision-bearing record (intent, decision) takes from its input. */
function decided(input: IntentInput | DecisionInput) {
  return {
    interaction_id: input.interaction_id,
    action: redactedAction(input.action, input.redact),
    decision: input.decision,
    reasons: jsonValue(input.reasons),
    policy_trace: jsonValue(input.policy_trace),
    approval_id: input.approval_id ?? null,
    result: null,
    meta: jsonValue(input.meta),
  };
}

function redactedAction(action: ActionInput | null, redact?: readonly string[]): unknown {
  if (!action) return null;
  const normalised = jsonValue(action) as ActionInput;
  if (normalised.params !== undefined) normalised.params = redactPaths("params", normalised.params, redact) as never;
  return normalised;
}

function toRow(record: AuditRecord) {
  const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));
  return {
    ...record,
    action: json(record.action),
    reasons: json(record.reasons),
    policy_trace: json(record.policy_trace),
    result: json(record.result),
    meta: json(record.meta),
    executed: record.executed === null ? null : record.executed ? 1 : 0,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a row as the driver returns it.
function fromRow(row: any): AuditRecord {
  const parse = (text: string | null) => (text === null ? null : JSON.parse(text));
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
    signature: row.signature,
  };
}
