// Grouped appends of the shared audit chain: the intents (with their budget units), decisions and outcomes of an
// org that reach a group transaction together are ONE unit of the node's group commit (./group-commit.ts
// orgBatches) — one conditional UPDATE of the budget counters the intents take, one read of the interactions
// the outcomes close, and one multi-row INSERT for all the records — so the org's chain lock is held for a few
// round trips however many requests share the group. Only the batch's last record is signed: its hash covers
// `prev_hash`, so one Ed25519 signature proves the whole batch (src/core/audit/verify.ts refuses a chain that ends
// on an unsigned record), as the embedded store does once per group commit (src/core/audit/group-signature.ts).
import type { KeyObject } from "node:crypto";
import { CompiledQuery } from "kysely";
import { type DecisionInput, type IntentInput, type OutcomeInput, toRow } from "../../audit/audit-log";
import type { Row as AuditRow } from "../../audit/audit-rows";
import { AUDIT_COLUMNS } from "../../audit/audit-statements";
import { type AuditRecord, type JsonColumnTexts, signBody } from "../../audit/record";
import {
  type Content,
  decisionContent,
  type InteractionRow,
  intentContent,
  outcomeContent,
} from "../../audit/record-content";
import type { BudgetSlot } from "../../policy/budget-counters";
import { isSqlite } from "../migrations/dialect";
import { refundEach, takeUnitsInOrder } from "./budgets";
import { orgBatches, type Settled, type SharedGroupCommit, type Trx } from "./group-commit";

/** A record hashed and not yet signed (signature null), with the bytes and the key its signature needs. */
export interface HashedRecord {
  record: AuditRecord;
  body: string;
  privateKey: KeyObject;
  /** Its JSON columns, serialised by the hash (audit-rows.ts toRow). */
  texts: JsonColumnTexts;
}

/** The record with its signature. */
export function signedNow({ record, body, privateKey }: HashedRecord): AuditRecord {
  record.signature = signBody(body, privateKey);
  return record;
}

export type IntentTaken = { ok: true; record: AuditRecord } | { ok: false; exhausted: BudgetSlot };

/**
 * A write that must commit with its intent, or the intent not at all (the reservation's idempotency link): run in
 * the group's transaction once the intent's units are taken; a throw refuses only that intent, with that error.
 */
export type IntentGuard = (trx: Trx) => Promise<void>;

export interface GroupedAppends {
  /** An intent with one unit of each budget slot, all or none: an exhausted slot writes nothing and is answered. */
  intent(input: IntentInput, slots: BudgetSlot[], guard?: IntentGuard): Promise<IntentTaken>;
  decision(input: DecisionInput): Promise<AuditRecord>;
  outcome(input: OutcomeInput): Promise<AuditRecord>;
}

type Grouped =
  | { kind: "intent"; content: Content; slots: BudgetSlot[]; guard?: IntentGuard | undefined }
  | { kind: "decision"; content: Content }
  | { kind: "outcome"; input: OutcomeInput };

/** The records the outcomes of the batch close (intent, earlier outcome), by interaction id. */
async function interactionsOf(trx: Trx, org: string, items: Grouped[]): Promise<Map<string, InteractionRow[]>> {
  const known = new Map<string, InteractionRow[]>();
  const ids = items.flatMap((i) => (i.kind === "outcome" ? [i.input.interaction_id] : []));
  if (ids.length === 0) return known;
  const rows = await trx
    .selectFrom("audit_records")
    .select(["interaction_id", "kind", "uapk_id", "agent_id", "decision", "approval_id"])
    .where("org_id", "=", org)
    .where("interaction_id", "in", [...new Set(ids)])
    .execute();
  for (const row of rows)
    known.set(row.interaction_id as string, [...(known.get(row.interaction_id) ?? []), row as InteractionRow]);
  return known;
}

/**
 * The INSERT of `count` rows, compiled by Kysely once per dialect and row count: building and compiling a
 * 19-column multi-row insert was the largest part of Kysely's cost per PostgreSQL execute. At most 2 × 200 texts.
 */
const insertTexts = new Map<string, string>();

function insertText(trx: Trx, count: number): string {
  const key = `${isSqlite(trx) ? "sqlite" : "postgres"}:${count}`;
  let text = insertTexts.get(key);
  if (text === undefined) {
    const placeholders = Object.fromEntries(AUDIT_COLUMNS.map((column) => [column, null])) as unknown as AuditRow;
    text = trx
      .insertInto("audit_records")
      .values(Array.from({ length: count }, () => placeholders))
      .compile().sql;
    insertTexts.set(key, text);
  }
  return text;
}

/** Inserts the rows, 200 per statement. */
export async function insertRecords(trx: Trx, rows: AuditRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200);
    const parameters = chunk.flatMap((row) => AUDIT_COLUMNS.map((column) => row[column] ?? null));
    await trx.executeQuery(CompiledQuery.raw(insertText(trx, chunk.length), parameters));
  }
}

/**
 * Runs the guards of the intents granted their units. A guard that throws refuses its intent: its units are given
 * back in this transaction (so the batch's other items keep theirs) and its error is its answer.
 */
async function refusedByGuards(trx: Trx, granted: Grouped[]): Promise<Map<Grouped, unknown>> {
  const refused = new Map<Grouped, unknown>();
  for (const item of granted) {
    if (item.kind !== "intent" || !item.guard) continue;
    try {
      await item.guard(trx);
    } catch (error) {
      await refundEach(trx, item.slots);
      refused.set(item, error);
    }
  }
  return refused;
}

/** `nextHashed` makes the org's next record inside the group's transaction (the caller signs and inserts it). */
export function createGroupedAppends(
  groups: SharedGroupCommit,
  nextHashed: (trx: Trx, orgId: string, content: Content) => Promise<HashedRecord>,
): GroupedAppends {
  async function appendBatch(trx: Trx, org: string, items: Grouped[]): Promise<Settled<IntentTaken>[]> {
    const intents = items.flatMap((i) => (i.kind === "intent" ? [i] : []));
    const shorts = await takeUnitsInOrder(
      trx,
      intents.map((i) => i.slots),
    );
    const shortOf = new Map<Grouped, BudgetSlot>();
    for (const [i, item] of intents.entries()) {
      const short = shorts[i];
      if (short) shortOf.set(item, short);
    }
    const refused = await refusedByGuards(
      trx,
      intents.filter((i) => !shortOf.has(i)),
    );
    const known = await interactionsOf(trx, org, items);
    const results: Settled<IntentTaken>[] = [];
    const made: HashedRecord[] = [];
    for (const item of items) {
      const short = shortOf.get(item);
      if (short) {
        results.push({ ok: true, value: { ok: false, exhausted: short } });
        continue;
      }
      if (refused.has(item)) {
        results.push({ ok: false, error: refused.get(item) });
        continue;
      }
      try {
        let content: Content;
        if (item.kind !== "outcome") content = item.content;
        else {
          const id = item.input.interaction_id;
          content = outcomeContent(item.input, known.get(id) ?? []);
          known.set(id, [...(known.get(id) ?? []), { kind: "outcome" } as InteractionRow]);
        }
        const hashed = await nextHashed(trx, org, content);
        made.push(hashed);
        results.push({ ok: true, value: { ok: true, record: hashed.record } });
      } catch (error) {
        results.push({ ok: false, error });
      }
    }
    const last = made.at(-1);
    // The results hold the same record object: its caller sees the signature.
    if (last) last.record.signature = signBody(last.body, last.privateKey);
    await insertRecords(
      trx,
      made.map((m) => toRow(m.record, m.texts)),
    );
    return results;
  }
  const append = orgBatches(groups, appendBatch);
  const recordOf = async (taken: Promise<IntentTaken>) => {
    const settled = await taken;
    if (!settled.ok) throw new Error("audit: only an intent takes budget units");
    return settled.record;
  };

  return {
    // The contents are made (and a bad input refused) here, before the group: once, and outside the chain lock.
    async intent(input, slots, guard) {
      return append(input.org_id, { kind: "intent", content: intentContent(input), slots, guard });
    },
    decision: async (input) => recordOf(append(input.org_id, { kind: "decision", content: decisionContent(input) })),
    outcome: (input) => recordOf(append(input.org_id, { kind: "outcome", input })),
  };
}
