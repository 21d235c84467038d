// Action budgets in SQLite: the hourly budget of each agent (clock-hour windows) and the lifetime budget
// of each capability token. Counters move ONLY when an action is executed, never on evaluate, and a
// consumption is all-or-nothing across every budget involved (one IMMEDIATE transaction with conditional
// increments), so concurrent executes can never overshoot a limit. A failed connector call is refunded:
// the original reserved budget before the connector ran and never gave it back.
import type { Db } from "../store/sqlite";

export interface BudgetSlot {
  /** e.g. `hour:<org>:<uapk>:<agent>` or `token:<jti>`. */
  scope: string;
  /** Hour number since the epoch for hourly budgets, 0 for lifetime budgets. */
  window: number;
  limit: number;
}

const HOUR_MS = 3_600_000;

export class BudgetCounters {
  private readonly readStmt;
  private readonly ensureStmt;
  private readonly incrementStmt;
  private readonly refundStmt;
  // Built once: they run on every execute.
  private readonly consumeAll;
  private readonly refundAll;

  constructor(private readonly db: Db) {
    this.readStmt = db.prepare<[string, number], { count: number }>(
      `SELECT count FROM action_budget_counters WHERE scope = ? AND window = ?`,
    );
    this.ensureStmt = db.prepare(
      `INSERT INTO action_budget_counters (scope, window, count) VALUES (?, ?, 0) ON CONFLICT DO NOTHING`,
    );
    this.incrementStmt = db.prepare(
      `UPDATE action_budget_counters SET count = count + 1 WHERE scope = ? AND window = ? AND count < ?`,
    );
    this.refundStmt = db.prepare(
      `UPDATE action_budget_counters SET count = count - 1 WHERE scope = ? AND window = ? AND count > 0`,
    );
    this.consumeAll = db.transaction((slots: BudgetSlot[]) => {
      for (const slot of slots) {
        this.ensureStmt.run(slot.scope, slot.window);
        if (this.incrementStmt.run(slot.scope, slot.window, slot.limit).changes === 0) {
          // Throwing rolls back the increments already made on the other slots.
          throw new ExhaustedSignal(slot);
        }
      }
    });
    this.refundAll = db.transaction((slots: Pick<BudgetSlot, "scope" | "window">[]) => {
      for (const slot of slots) this.refundStmt.run(slot.scope, slot.window);
    });
  }

  static hourWindow(now: Date): number {
    return Math.floor(now.getTime() / HOUR_MS);
  }

  static hourlyScope(orgId: string, uapkId: string, agentId: string): string {
    return `hour:${orgId}:${uapkId}:${agentId}`;
  }

  static tokenScope(jti: string): string {
    return `token:${jti}`;
  }

  current(scope: string, window: number): number {
    return this.readStmt.get(scope, window)?.count ?? 0;
  }

  /** Takes one unit from every slot, or from none when any is exhausted. Returns the exhausted slot, if any. */
  tryConsume(slots: BudgetSlot[]): { ok: true } | { ok: false; exhausted: BudgetSlot } {
    try {
      this.consumeAll.immediate(slots);
      return { ok: true };
    } catch (err) {
      if (err instanceof ExhaustedSignal) return { ok: false, exhausted: err.slot };
      throw err;
    }
  }

  refund(slots: Pick<BudgetSlot, "scope" | "window">[]): void {
    this.refundAll(slots);
  }

  /** Drops hourly windows older than a day (cheap; called opportunistically). */
  prune(now: Date): void {
    this.db
      .prepare(`DELETE FROM action_budget_counters WHERE window != 0 AND window < ?`)
      .run(BudgetCounters.hourWindow(now) - 24);
  }
}

class ExhaustedSignal extends Error {
  constructor(readonly slot: BudgetSlot) {
    super("budget exhausted");
  }
}
