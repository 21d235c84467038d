// The budget counters' statements, written once for both backends: the embedded store compiles them once with
// `$` parameters (src/core/policy/budget-counters.ts, through ./sqlite-query.ts), the shared store runs them
// with each call's values (./shared/budgets.ts).
import type { Kysely } from "kysely";
import type { Database } from "./schema";

interface Slot {
  scope: string;
  window: number;
}

/**
 * Takes one unit of a budget slot: the first unit of a window creates its row, every next one is a conditional
 * increment that only a row below `limit` takes. No row returned: the slot is exhausted (nothing changed).
 */
export function takeUnit(b: Kysely<Database>, slot: Slot & { limit: number }) {
  return b
    .insertInto("action_budget_counters")
    .values({ scope: slot.scope, window: slot.window, count: 1 })
    .onConflict((oc) =>
      oc
        .columns(["scope", "window"])
        .doUpdateSet((eb) => ({ count: eb("action_budget_counters.count", "+", 1) }))
        .where("action_budget_counters.count", "<", slot.limit),
    )
    .returning("count");
}

/** Gives one unit back (never below zero). */
export function refundUnit(b: Kysely<Database>, slot: Slot) {
  return b
    .updateTable("action_budget_counters")
    .set((eb) => ({ count: eb("count", "-", 1) }))
    .where("scope", "=", slot.scope)
    .where("window", "=", slot.window)
    .where("count", ">", 0);
}
