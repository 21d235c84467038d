// Budget counters in the shared store. A reservation is one conditional increment per slot
// (`UPDATE … SET count = count + units WHERE count + units <= limit`: 1 for an action, the amount in millionths
// for a money budget) in one transaction: the database decides who gets the
// last unit, so N nodes never overshoot a limit (no read-then-write). A slot that is exhausted rolls the
// whole transaction back, so a consumption is all-or-nothing across every budget involved.
import { sql, type Transaction } from "kysely";
import { type BudgetSlot, type RefundSlot, unitsOf } from "../../policy/budget-counters";
import { isSqlite } from "../migrations/dialect";
import type { AnyKysely } from "../postgres";
import { refundUnit, refundUnits, takeUnit, takeUnits } from "../budget-queries";
import type { Database } from "../schema";
import { coalescedReads } from "./coalesce";

type Executor = AnyKysely | Transaction<Database>;

export type ConsumeResult = { ok: true } | { ok: false; exhausted: BudgetSlot };

export interface SharedBudgets {
  /** Takes its units from every slot or nothing, in its own transaction. */
  tryConsume(slots: BudgetSlot[]): Promise<ConsumeResult>;
  refund(slots: RefundSlot[]): Promise<void>;
  current(scope: string, window: number): Promise<number>;
}

/** Thrown inside a transaction to roll back the slots already taken. */
export class BudgetExhausted extends Error {
  constructor(readonly slot: BudgetSlot) {
    super(`budget ${slot.scope} exhausted`);
  }
}

/** The increments themselves; throws BudgetExhausted (the caller's transaction must roll back). */
export async function takeOneUnitEach(trx: Executor, slots: BudgetSlot[]): Promise<void> {
  for (const slot of slots) {
    if (unitsOf(slot) > slot.limit) throw new BudgetExhausted(slot);
    const take = slot.units === undefined ? takeUnit(trx, slot) : takeUnits(trx, { ...slot, units: slot.units });
    const taken = await take.executeTakeFirst();
    if (!taken) throw new BudgetExhausted(slot);
  }
}

type SlotKey = Pick<BudgetSlot, "scope" | "window">;

/** Each slot's units back (never below zero), inside the caller's transaction. */
export async function refundEach(trx: Executor, slots: RefundSlot[]): Promise<void> {
  for (const slot of slots)
    await (slot.units === undefined
      ? refundUnit(trx, slot)
      : refundUnits(trx, { ...slot, units: slot.units })
    ).execute();
}

const keyOf = (slot: SlotKey) => `${slot.window}\u0000${slot.scope}`;

/**
 * The counters of `slots`, read and row-locked (PostgreSQL `FOR UPDATE`, in one sorted order on every node) until
 * the transaction ends; a counter that does not exist yet is created at 0 first. Nobody else can move them
 * before the caller's transaction commits, so what is decided on these values in memory is what commits.
 */
async function lockCounters(trx: Executor, slots: SlotKey[]): Promise<Map<string, number>> {
  const distinct = [...new Map(slots.map((s) => [keyOf(s), s])).values()].sort(
    (a, b) => a.scope.localeCompare(b.scope) || a.window - b.window,
  );
  const read = async () => {
    let query = trx
      .selectFrom("action_budget_counters")
      .select(["scope", "window", "count"])
      .where((eb) => eb.or(distinct.map((s) => eb.and([eb("scope", "=", s.scope), eb("window", "=", s.window)]))))
      .orderBy("scope")
      .orderBy("window");
    if (!isSqlite(trx)) query = query.forUpdate();
    const rows = await query.execute();
    return new Map(rows.map((r) => [keyOf({ scope: r.scope, window: Number(r.window) }), Number(r.count)]));
  };
  let counts = await read();
  const missing = distinct.filter((s) => !counts.has(keyOf(s)));
  if (missing.length > 0) {
    // The first unit of a window: create the counters (another node may create them at the same time).
    await trx
      .insertInto("action_budget_counters")
      .values(missing.map((s) => ({ scope: s.scope, window: s.window, count: 0 })))
      .onConflict((oc) => oc.doNothing())
      .execute();
    counts = await read();
  }
  return counts;
}

type Delta = { slot: SlotKey; n: number };

/** `count += n` for each counter, in one statement; with `limits`, only where the counter stays within them. */
async function addToCounters(trx: Executor, deltas: Delta[], limits?: Map<string, number>): Promise<Set<string>> {
  const delta = sql.join(
    deltas.map(({ slot, n }) => sql`WHEN scope = ${slot.scope} AND "window" = ${slot.window} THEN ${n}`),
    sql` `,
  );
  // BIGINT, not the integer PostgreSQL would infer from `ELSE 0`: a money delta (millionths) exceeds 2^31.
  const rows = await trx
    .updateTable("action_budget_counters")
    .set({ count: sql`count + CASE ${delta} ELSE CAST(0 AS BIGINT) END` })
    .where((eb) =>
      eb.or(
        deltas.map(({ slot, n }) => {
          const limit = limits?.get(keyOf(slot));
          const same = [eb("scope", "=", slot.scope), eb("window", "=", slot.window)];
          return eb.and(limit === undefined ? same : [...same, eb(sql`count + ${n}`, "<=", limit)]);
        }),
      ),
    )
    .returning(["scope", "window"])
    .execute();
  return new Set(rows.map((r) => keyOf({ scope: r.scope, window: Number(r.window) })));
}

/**
 * The units of every slot of each request, in order, all-or-nothing per request — exactly what running
 * `takeOneUnitEach` for each request in turn would grant — in one UPDATE for the whole batch when every counter
 * has room for all of it (the common case: whoever is below `count + n ≤ smallest limit` grants every request).
 * Otherwise the counters are locked and read, the requests granted one by one in memory on those values, and
 * one UPDATE writes the result. Returns, per request, undefined (granted) or the first slot it found exhausted
 * (nothing of that request taken).
 */
export async function takeUnitsInOrder(trx: Executor, requests: BudgetSlot[][]): Promise<(BudgetSlot | undefined)[]> {
  if (requests.every((slots) => slots.length === 0)) return requests.map(() => undefined);
  const wanted = new Map<string, Delta>();
  const smallest = new Map<string, number>();
  for (const slot of requests.flat()) {
    const key = keyOf(slot);
    const entry = wanted.get(key) ?? { slot, n: 0 };
    entry.n += unitsOf(slot);
    wanted.set(key, entry);
    smallest.set(key, Math.min(smallest.get(key) ?? slot.limit, slot.limit));
  }
  const added = await addToCounters(trx, [...wanted.values()], smallest);
  if (added.size === wanted.size) return requests.map(() => undefined);
  // Some counter is missing or near its limit: give back what was added (its row is locked by us now) and grant
  // request by request.
  const undo = [...wanted.entries()].filter(([key]) => added.has(key)).map(([, d]) => ({ slot: d.slot, n: -d.n }));
  if (undo.length > 0) await addToCounters(trx, undo);
  return takeOneByOne(trx, requests);
}

async function takeOneByOne(trx: Executor, requests: BudgetSlot[][]): Promise<(BudgetSlot | undefined)[]> {
  const counts = await lockCounters(trx, requests.flat());
  const taken = new Map<string, Delta>();
  const results = requests.map((slots) => {
    const after = new Map<string, number>();
    for (const slot of slots) {
      const key = keyOf(slot);
      const current = after.get(key) ?? counts.get(key) ?? 0;
      if (current + unitsOf(slot) > slot.limit) return slot;
      after.set(key, current + unitsOf(slot));
    }
    for (const slot of slots) {
      const key = keyOf(slot);
      counts.set(key, (counts.get(key) ?? 0) + unitsOf(slot));
      const entry = taken.get(key) ?? { slot, n: 0 };
      entry.n += unitsOf(slot);
      taken.set(key, entry);
    }
    return undefined;
  });
  if (taken.size > 0) await addToCounters(trx, [...taken.values()]);
  return results;
}

export function createSharedBudgets(db: AnyKysely): SharedBudgets {
  // Every decision reads its counters (and execute reads the hourly one again for its risk snapshot): the reads
  // of one turn are one query (./coalesce.ts — sent after they were asked for, so never stale).
  const currentOf = coalescedReads<SlotKey, number>(keyOf, async (keys) => {
    const rows = await db
      .selectFrom("action_budget_counters")
      .select(["scope", "window", "count"])
      .where((eb) => eb.or(keys.map((k) => eb.and([eb("scope", "=", k.scope), eb("window", "=", k.window)]))))
      .execute();
    return new Map(rows.map((r) => [keyOf({ scope: r.scope, window: Number(r.window) }), Number(r.count)]));
  });
  return {
    async tryConsume(slots) {
      try {
        await db.transaction().execute((trx) => takeOneUnitEach(trx, slots));
        return { ok: true };
      } catch (err) {
        if (err instanceof BudgetExhausted) return { ok: false, exhausted: err.slot };
        throw err;
      }
    },
    async refund(slots) {
      await db.transaction().execute((trx) => refundEach(trx, slots));
    },
    current: async (scope, window) => (await currentOf({ scope, window })) ?? 0,
  };
}
