// The audit chain in the shared store: one hash chain per org, `seq` 1, 2, 3… without gaps, however many nodes
// append. Every append runs in a transaction that first takes the org's chain lock — on PostgreSQL a
// transaction-scoped advisory lock (`pg_advisory_xact_lock`) keyed by the org — then reads the head and
// inserts the next record; a second node's append waits for the first to commit, so it can never read a
// stale head (no fork) and a rolled-back append leaves no hole (no gap). The primary key (org_id, seq) stays
// the last line of defence. On SQLite the Kysely driver's single connection already serialises transactions.
// Records have the exact shape of src/core/audit's, so `verifyRecords` and `gatehouse audit verify` check both.
import { sql, type Transaction } from "kysely";
import {
  decodeCursor,
  encodeCursor,
  InvalidAuditQueryError,
  isoInstant,
  storedAction,
  storedResult,
  toRow,
  type ActionInput,
  type ApprovalDecisionInput,
  type AuditListFilter,
  type AuditPage,
  type DecisionInput,
  type IntentInput,
  type OutcomeInput,
} from "../../audit/audit-log";
import { canonicalJson } from "../../audit/canonical";
import { type ChainHead, signChainHead } from "../../audit/chain-head";
import { GENESIS_HASH, jsonValue, signRecord, type AuditRecord, type UnsignedAuditRecord } from "../../audit/record";
import { redactPaths } from "../../audit/redact";
import { verifyRecords, type ChainVerification } from "../../audit/verify";
import type { PublicJwk } from "../../keys";
import type { AnyKysely } from "../postgres";
import { lockOrgChain, sharedGroupCommit, trxState, type SharedGroupCommit, type Trx } from "./group-commit";
import type { SharedSigningKeys } from "./signing-keys";

type Content = Omit<UnsignedAuditRecord, "org_id" | "seq" | "timestamp" | "prev_hash" | "kid">;

export interface SharedAuditChain {
  /** Appends inside `trx` when given (e.g. the reservation's transaction: intent + budget + approval). */
  appendIntent(input: IntentInput, trx?: Trx): Promise<AuditRecord>;
  appendDecision(input: DecisionInput, trx?: Trx): Promise<AuditRecord>;
  /** Refused when the interaction has no intent or already has its outcome. */
  appendOutcome(input: OutcomeInput, trx?: Trx): Promise<AuditRecord>;
  /** An approval verdict, inside the transaction that stores it (approve / deny / expiry). */
  appendApprovalDecision(input: ApprovalDecisionInput, trx?: Trx): Promise<AuditRecord>;
  /** Decisions and outcomes in this node's next group commit (./group-commit.ts). */
  appendDecisionGrouped(input: DecisionInput): Promise<AuditRecord>;
  appendOutcomeGrouped(input: OutcomeInput): Promise<AuditRecord>;
  /** One org's chain in order. */
  chain(orgId: string): Promise<AuditRecord[]>;
  /** The head signed by the audit key, read under the chain lock (seq 0 and the genesis hash when empty). */
  signedHead(orgId: string): Promise<ChainHead>;
  verify(orgId: string): Promise<ChainVerification>;
  verifyChain(orgId: string): Promise<ChainVerification>;
  /** Newest first. */
  list(orgId: string, filter?: AuditListFilter): Promise<AuditPage>;
  getInteraction(orgId: string, interactionId: string): Promise<AuditRecord[]>;
  exportJsonl(orgId: string): Promise<string>;
  publicJwks(): Promise<{ keys: PublicJwk[] }>;
}

const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

export function createSharedAuditChain(
  db: AnyKysely,
  keys: SharedSigningKeys,
  options: { now?: () => Date; groups?: SharedGroupCommit } = {},
): SharedAuditChain {
  const now = options.now ?? (() => new Date());
  const groups = options.groups ?? sharedGroupCommit(db);
  const lockChain = lockOrgChain;

  /** The org's next record, signed, its head remembered by the transaction (the caller inserts it). */
  async function nextRecord(trx: Trx, orgId: string, content: Content): Promise<AuditRecord> {
    await lockChain(trx, orgId);
    const state = trxState(trx);
    const head =
      state.heads.get(orgId) ??
      (await trx
        .selectFrom("audit_records")
        .select(["seq", "hash"])
        .where("org_id", "=", orgId)
        .orderBy("seq", "desc")
        .limit(1)
        .executeTakeFirst());
    const signingKey =
      (state.signingKeys.get("audit") as Awaited<ReturnType<SharedSigningKeys["activeKey"]>> | undefined) ??
      (await keys.activeKey(trx));
    state.signingKeys.set("audit", signingKey);
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
    state.heads.set(orgId, { seq: record.seq, hash: record.hash });
    return record;
  }

  async function appendIn(trx: Trx, orgId: string, content: Content): Promise<AuditRecord> {
    const record = await nextRecord(trx, orgId, content);
    await trx.insertInto("audit_records").values(toRow(record)).execute();
    return record;
  }

  // Grouped decisions and outcomes: the ones asked for in one turn become ONE unit of the node's group commit —
  // one read of the interactions the outcomes close (per org) and one multi-row INSERT for all of them.
  type Pending = ({ kind: "decision"; input: DecisionInput } | { kind: "outcome"; input: OutcomeInput }) & {
    resolve: (record: AuditRecord) => void;
    reject: (err: unknown) => void;
  };
  let pendingAppends: Pending[] = [];

  function enqueue(item: Pending): void {
    if (pendingAppends.push(item) === 1) setImmediate(flushAppends);
  }

  function flushAppends(): void {
    const items = pendingAppends;
    pendingAppends = [];
    const orgs = [...new Set(items.map((item) => item.input.org_id))];
    groups
      .run(orgs, (trx) => appendBatch(trx, orgs, items))
      .then(
        (results) =>
          items.forEach((item, i) => {
            const result = results[i]!; // one result per item, in order
            if (result.ok) item.resolve(result.record);
            else item.reject(result.error);
          }),
        (err) => {
          for (const item of items) item.reject(err);
        },
      );
  }

  type InteractionRow = Pick<AuditRecord, "kind" | "uapk_id" | "agent_id" | "decision" | "approval_id">;

  async function appendBatch(trx: Trx, orgs: string[], items: Pending[]) {
    const known = new Map<string, InteractionRow[]>();
    const keyOf = (org: string, interaction: string) => `${org}\u0000${interaction}`;
    for (const org of orgs) {
      const ids = items.flatMap((i) =>
        i.kind === "outcome" && i.input.org_id === org ? [i.input.interaction_id] : [],
      );
      if (ids.length === 0) continue;
      const rows = await trx
        .selectFrom("audit_records")
        .select(["interaction_id", "kind", "uapk_id", "agent_id", "decision", "approval_id"])
        .where("org_id", "=", org)
        .where("interaction_id", "in", [...new Set(ids)])
        .execute();
      for (const row of rows) {
        const key = keyOf(org, row.interaction_id as string);
        known.set(key, [...(known.get(key) ?? []), row as InteractionRow]);
      }
    }
    const results: ({ ok: true; record: AuditRecord } | { ok: false; error: unknown })[] = [];
    const rows: ReturnType<typeof toRow>[] = [];
    for (const item of items) {
      try {
        let content: Content;
        if (item.kind === "decision") content = decisionContent(item.input);
        else {
          const key = keyOf(item.input.org_id, item.input.interaction_id);
          content = outcomeContent(item.input, known.get(key) ?? []);
          known.set(key, [...(known.get(key) ?? []), { kind: "outcome" } as InteractionRow]);
        }
        const record = await nextRecord(trx, item.input.org_id, content);
        rows.push(toRow(record));
        results.push({ ok: true, record });
      } catch (error) {
        results.push({ ok: false, error });
      }
    }
    for (let i = 0; i < rows.length; i += 200)
      await trx
        .insertInto("audit_records")
        .values(rows.slice(i, i + 200))
        .execute();
    return results;
  }

  const append = (orgId: string, content: Content, trx?: Trx) =>
    trx ? appendIn(trx, orgId, content) : db.transaction().execute((t) => appendIn(t, orgId, content));

  async function chain(orgId: string): Promise<AuditRecord[]> {
    const rows = await db.selectFrom("audit_records").selectAll().where("org_id", "=", orgId).orderBy("seq").execute();
    return rows.map(fromRow);
  }

  /** The outcome record of an interaction, refused without its intent or when it already has an outcome. */
  function outcomeContent(input: OutcomeInput, records: InteractionRow[]): Content {
    const intent = records.find((r) => r.kind === "intent");
    if (!intent) throw new Error(`appendOutcome: no intent recorded for ${input.interaction_id}`);
    if (records.some((r) => r.kind === "outcome"))
      throw new Error(`appendOutcome: outcome of ${input.interaction_id} already recorded`);
    return {
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
      ...(storedResult(redactPaths("result", jsonValue(input.result), input.redact) ?? null, jsonValue(input.meta)) as {
        result: unknown;
        meta: unknown;
      }),
    } as Content;
  }

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

  const decisionContent = (input: DecisionInput): Content =>
    ({
      ...decided(input),
      kind: "decision",
      uapk_id: input.uapk_id,
      agent_id: input.agent_id,
      executed: false,
    }) as Content;

  function approvalContent(input: ApprovalDecisionInput): Content {
    return {
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
    } as Content;
  }

  const rowsOf = (records: unknown[]) => records.map(fromRow);

  const api: SharedAuditChain = {
    appendIntent(input, trx) {
      if (input.decision !== "ALLOW")
        throw new Error(`appendIntent: an intent records an ALLOW, got ${input.decision}`);
      return append(
        input.org_id,
        {
          ...decided(input),
          kind: "intent",
          uapk_id: input.uapk_id,
          agent_id: input.agent_id,
          executed: null,
        } as Content,
        trx,
      );
    },

    appendDecision: (input, trx) => append(input.org_id, decisionContent(input), trx),

    appendOutcome: (input, trx) => (trx ? outcomeIn(trx, input) : db.transaction().execute((t) => outcomeIn(t, input))),

    appendApprovalDecision: (input, trx) => append(input.org_id, approvalContent(input), trx),

    appendDecisionGrouped: (input) =>
      new Promise((resolve, reject) => enqueue({ kind: "decision", input, resolve, reject })),

    appendOutcomeGrouped: (input) =>
      new Promise((resolve, reject) => enqueue({ kind: "outcome", input, resolve, reject })),

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

    verifyChain(orgId) {
      return this.verify(orgId);
    },

    async list(orgId, filter = {}) {
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
      const page = rowsOf(rows.slice(0, limit));
      const last = page.at(-1);
      return { records: page, next_cursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
    },

    async getInteraction(orgId, interactionId) {
      const rows = await db
        .selectFrom("audit_records")
        .selectAll()
        .where("org_id", "=", orgId)
        .where("interaction_id", "=", interactionId)
        .orderBy("seq")
        .execute();
      return rowsOf(rows);
    },

    async exportJsonl(orgId) {
      // Canonical JSON (RFC 8785) per line: `audit verify` refuses any line that is not exactly that. The head is
      // signed first and ends the export, so records appended meanwhile are not part of it and a cut tail shows.
      const head = await api.signedHead(orgId);
      const records = (await chain(orgId)).filter((record) => record.seq <= head.seq);
      const lines = records.map((record) => `${canonicalJson(record)}\n`);
      return `${lines.join("")}${canonicalJson({ chain_head: head })}\n`;
    },

    publicJwks: () => keys.publicJwks(),
  };
  return api;
}

/** The fields every decision-bearing record (intent, decision) takes from its input. */
function decided(input: IntentInput | DecisionInput) {
  return {
    interaction_id: input.interaction_id,
    ...(storedAction(redactedAction(input.action, input.redact), jsonValue(input.meta)) as {
      action: unknown;
      meta: unknown;
    }),
    decision: input.decision,
    reasons: jsonValue(input.reasons),
    policy_trace: jsonValue(input.policy_trace),
    approval_id: input.approval_id ?? null,
    result: null,
  };
}

function redactedAction(action: ActionInput | null, redact?: readonly string[]): unknown {
  if (!action) return null;
  const normalised = jsonValue(action) as ActionInput;
  if (normalised.params !== undefined) normalised.params = redactPaths("params", normalised.params, redact) as never;
  return normalised;
}

// biome-ignore lint/suspicious/noExplicitAny: a row as the driver returns it.
export function fromRow(row: any): AuditRecord {
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
