// Action budgets in SQLite: the hourly budget of each agent (clock-hour windows), its hourly money budget (in
// millionths of its currency, ./amounts.ts) and the lifetime budget of each capability token. Counters move ONLY when an action is executed, never on evaluate, and a
// consumption is all-or-nothing across every budget involved (one IMMEDIATE transaction with conditional
// increments), so concurrent executes can never overshoot a limit. A failed connector call is refunded:
// the original reserved budget before the connector ran and never gave it back.
import { refundUnit, refundUnits } from "../store/budget-queries";
import { sqliteQuery } from "../store/sqlite-query";
import type { Db } from "../store/sqlite";

export interface BudgetSlot {
  /** e.g. `hour:<org>:<uapk>:<agent>`, `money:<org>:<uapk>:<agent>:<currency>` or `token:<jti>`. */
  scope: string;
  /** Hour number since the epoch for hourly budgets, 0 for lifetime budgets. */
  window: number;
  limit: number;
  /** What this action takes of it: 1 when absent (an action), the amount in millionths for a money budget. */
  units?: number;
}

type SlotKey = Pick<BudgetSlot, "scope" | "window">;
/** A slot as it is given back: what it took is what returns. */
export type RefundSlot = SlotKey & Pick<BudgetSlot, "units">;

/** What a consumption of the slot takes (and a refund gives back). */
export const unitsOf = (slot: Pick<BudgetSlot, "units">): number => slot.units ?? 1;

const HOUR_MS = 3_600_000;
const MAX_CACHED = 10_000;
const cacheKey = (scope: string, window: number) => `${window}\u0000${scope}`;

// One part of a scope. Org ids (an identity provider's `org` claim), uapk ids and agent ids may hold `:`; unescaped,
// org `acme` / uapk `sales:bot` and org `acme:sales` / uapk `bot` shared one counter, so another org could spend
// this agent's hourly budget. `%` and `:` are escaped; an id without them is unchanged (counters survive upgrades).
const scopePart = (id: string) => (/[%:]/u.test(id) ? id.replace(/%/gu, "%25").replace(/:/gu, "%3A") : id);

export class BudgetCounters {
  private readonly readStmt;
  private readonly ensureStmt;
  private readonly takeStmt;
  private readonly takeUnitsStmt;
  private readonly refundStmt;
  private readonly refundUnitsStmt;
  private readonly pruneStmt;
  // Built once: they run on every execute.
  private readonly consumeAll;
  private readonly refundAll;
  /**
   * `current`'s answers: every decision reads its budgets, and that read was the largest native cost of an
   * evaluate. Exact because these counters are written only by this class on the embedded store (one server per
   * data directory): a consumption or refund drops the entries it touched before it returns (also when it rolls
   * back — dropping is always safe), and the next read fetches the committed value. Bounded: emptied when it
   * outgrows MAX_CACHED (hourly scopes roll over every hour).
   */
  private readonly counts = new Map<string, number>();

  constructor(private readonly db: Db) {
    this.readStmt = sqliteQuery(db, (b, $: SlotKey) =>
      b
        .selectFrom("action_budget_counters")
        .select("count")
        .where("scope", "=", $.scope)
        .where("window", "=", $.window),
    );
    // The row first (0 when new), then the conditional increment: on SQLite two plain statements cost a little
    // less CPU than the shared store's one upsert (takeUnit, which saves PostgreSQL a round trip); A/B runs of
    // bench/store-hot-path.ts: 27.5 µs vs 28.0 µs per 2-slot consumption. The write lock (IMMEDIATE) makes them one step.
    this.ensureStmt = sqliteQuery(db, (b, $: SlotKey) =>
      b
        .insertInto("action_budget_counters")
        .values({ scope: $.scope, window: $.window, count: 0 })
        .onConflict((oc) => oc.doNothing()),
    );
    this.takeStmt = sqliteQuery(db, (b, $: BudgetSlot) =>
      b
        .updateTable("action_budget_counters")
        .set((eb) => ({ count: eb("count", "+", 1) }))
        .where("scope", "=", $.scope)
        .where("window", "=", $.window)
        .where("count", "<", $.limit),
    );
    // A money slot takes its amount at once, only while the counter stays within the limit. Its own statement:
    // the action slots keep theirs, unchanged.
    this.takeUnitsStmt = sqliteQuery(db, (b, $: Required<BudgetSlot>) =>
      b
        .updateTable("action_budget_counters")
        .set((eb) => ({ count: eb("count", "+", $.units) }))
        .where("scope", "=", $.scope)
        .where("window", "=", $.window)
        .where((eb) => eb(eb("count", "+", $.units), "<=", $.limit)),
    );
    this.refundStmt = sqliteQuery(db, (b, $: SlotKey) => refundUnit(b, $));
    this.refundUnitsStmt = sqliteQuery(db, (b, $: Required<RefundSlot>) => refundUnits(b, $));
    this.pruneStmt = sqliteQuery(db, (b, $: { before: number }) =>
      b.deleteFrom("action_budget_counters").where("window", "!=", 0).where("window", "<", $.before),
    );
    this.consumeAll = db.transaction((slots: BudgetSlot[]) => {
      // Throwing rolls back the increments already made on the other slots.
      for (const slot of slots) this.consumeOne(slot);
    });
    this.refundAll = db.transaction((slots: RefundSlot[]) => {
      for (const slot of slots) {
        this.counts.delete(cacheKey(slot.scope, slot.window));
        if (slot.units === undefined) this.refundStmt.run(slot);
        else this.refundUnitsStmt.run(slot as Required<RefundSlot>);
      }
    });
  }

  static hourWindow(now: Date): number {
    return Math.floor(now.getTime() / HOUR_MS);
  }

  static hourlyScope(orgId: string, uapkId: string, agentId: string): string {
    return `hour:${scopePart(orgId)}:${scopePart(uapkId)}:${scopePart(agentId)}`;
  }

  /** The agent's money budget in one currency (a limit moved to another currency starts its own counter). */
  static moneyScope(orgId: string, uapkId: string, agentId: string, currency: string): string {
    return `money:${scopePart(orgId)}:${scopePart(uapkId)}:${scopePart(agentId)}:${scopePart(currency)}`;
  }

  static tokenScope(jti: string): string {
    return `token:${jti}`;
  }

  current(scope: string, window: number): number {
    const key = cacheKey(scope, window);
    const cached = this.counts.get(key);
    if (cached !== undefined) return cached;
    const count = this.readStmt.get({ scope, window })?.count ?? 0;
    // A read inside an open transaction may see writes that are then rolled back: not worth keeping.
    if (this.db.inTransaction) return count;
    if (this.counts.size >= MAX_CACHED) this.counts.clear();
    this.counts.set(key, count);
    return count;
  }

  /**
   * Takes its units from every slot, or nothing when any is exhausted. Returns the exhausted slot, if any. One slot
   * inside a caller's transaction (a group commit's unit) needs no savepoint of its own: its conditional UPDATE takes
   * or refuses in one atomic step, and the zero row it may leave is what any later consumption would insert first.
   */
  tryConsume(slots: BudgetSlot[]): { ok: true } | { ok: false; exhausted: BudgetSlot } {
    try {
      if (slots.length === 1 && this.db.inTransaction) this.consumeOne(slots[0]!);
      else this.consumeAll.immediate(slots);
      return { ok: true };
    } catch (err) {
      if (err instanceof ExhaustedSignal) return { ok: false, exhausted: err.slot };
      throw err;
    }
  }

  /** Takes one slot's units, or throws ExhaustedSignal (nothing taken) when they would pass its limit. */
  private consumeOne(slot: BudgetSlot): void {
    this.counts.delete(cacheKey(slot.scope, slot.window));
    this.ensureStmt.run(slot);
    const take = slot.units === undefined ? this.takeStmt : this.takeUnitsStmt;
    if (take.run(slot as Required<BudgetSlot>).changes === 0) throw new ExhaustedSignal(slot);
  }

  refund(slots: RefundSlot[]): void {
    this.refundAll(slots);
  }

  /** Drops hourly windows older than a day (cheap; called opportunistically). */
  prune(now: Date): void {
    this.pruneStmt.run({ before: BudgetCounters.hourWindow(now) - 24 });
    this.counts.clear();
  }
}

class ExhaustedSignal extends Error {
  constructor(readonly slot: BudgetSlot) {
    super("budget exhausted");
  }
}
