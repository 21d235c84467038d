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

/**
 * Takes `units` of a money slot at once, as takeUnit takes one: only while the counter stays within `limit`. The
 * caller refuses a slot whose units alone exceed its limit (the first take of a window inserts them unchecked).
 */
export function takeUnits(b: Kysely<Database>, slot: Slot & { limit: number; units: number }) {
  return b
    .insertInto("action_budget_counters")
    .values({ scope: slot.scope, window: slot.window, count: slot.units })
    .onConflict((oc) =>
      oc
        .columns(["scope", "window"])
        .doUpdateSet((eb) => ({ count: eb("action_budget_counters.count", "+", slot.units) }))
        .where((eb) => eb(eb("action_budget_counters.count", "+", slot.units), "<=", slot.limit)),
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

/** Gives `units` back (never below zero): what a money slot took. */
export function refundUnits(b: Kysely<Database>, slot: Slot & { units: number }) {
  return b
    .updateTable("action_budget_counters")
    .set((eb) => ({
      count: eb
        .case()
        .when("count", ">", slot.units)
        .then(eb("count", "-", slot.units))
        .else(0)
        .end(),
    }))
    .where("scope", "=", slot.scope)
    .where("window", "=", slot.window)
    .where("count", ">", 0);
}
