// Budget counters in the shared store. A reservation is one conditional increment per slot
// (`UPDATE … SET count = count + 1 WHERE count < limit`) in one transaction: the database decides who gets the
// last unit, so N nodes never overshoot a limit (no read-then-write). A slot that is exhausted rolls the
// whole transaction back, so a consumption is all-or-nothing across every budget involved.
import type { Transaction } from "kysely";
import type { BudgetSlot } from "../../policy/budget-counters";
import type { AnyKysely } from "../postgres";

// biome-ignore lint/suspicious/noExplicitAny: schema from the migrations.
type Executor = AnyKysely | Transaction<any>;

export type ConsumeResult = { ok: true } | { ok: false; exhausted: BudgetSlot };

export interface SharedBudgets {
  /** Takes one unit from every slot or from none, in its own transaction. */
  tryConsume(slots: BudgetSlot[]): Promise<ConsumeResult>;
  refund(slots: Pick<BudgetSlot, "scope" | "window">[]): Promise<void>;
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
    if (slot.limit < 1) throw new BudgetExhausted(slot);
    // One statement per slot: the first unit creates the row, every next one is a conditional increment that
    // only a row below its limit takes (no row returned: exhausted).
    const taken = await trx
      .insertInto("action_budget_counters")
      .values({ scope: slot.scope, window: slot.window, count: 1 })
      .onConflict((oc) =>
        oc
          .columns(["scope", "window"])
          .doUpdateSet((eb) => ({ count: eb("action_budget_counters.count", "+", 1) }))
          .where("action_budget_counters.count", "<", slot.limit),
      )
      .returning("count")
      .executeTakeFirst();
    if (!taken) throw new BudgetExhausted(slot);
  }
}

export function createSharedBudgets(db: AnyKysely): SharedBudgets {
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
      await db.transaction().execute(async (trx) => {
        for (const slot of slots) {
          await trx
            .updateTable("action_budget_counters")
            .set((eb) => ({ count: eb("count", "-", 1) }))
            .where("scope", "=", slot.scope)
            .where("window", "=", slot.window)
            .where("count", ">", 0)
            .execute();
        }
      });
    },
    async current(scope, window) {
      const row = await db
        .selectFrom("action_budget_counters")
        .select("count")
        .where("scope", "=", scope)
        .where("window", "=", window)
        .executeTakeFirst();
      return Number(row?.count ?? 0);
    },
  };
}
