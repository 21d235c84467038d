// Group commit on the shared store: the writes asked for during one turn of this node's event loop (audit
// appends, reservations) run in ONE transaction, each in its own savepoint, and every promise settles after the
// COMMIT — one round of locks and one commit (one WAL flush) serve many requests.
//
// Exactness across nodes: the transaction first takes the chain lock of every org it touches (PostgreSQL
// transaction-scoped advisory locks, in sorted order), so two nodes' groups of one org run one after the other
// and read each other's committed head; the units then take row locks (budgets, approvals) only while holding
// their orgs' chain locks, in the same order on every node, so groups never deadlock. A unit that throws rolls
// back to its savepoint: only its own writes are undone and only its promise rejects.
import { sql, type Transaction } from "kysely";
import { isSqlite } from "../migrations/dialect";
import type { AnyKysely } from "../postgres";

// biome-ignore lint/suspicious/noExplicitAny: schema from the migrations.
export type Trx = Transaction<any>;

export interface SharedGroupCommit {
  /** Runs `work` in the next group transaction (holding the chain locks of `orgIds`); settles after COMMIT. */
  run<T>(orgIds: readonly string[], work: (trx: Trx) => Promise<T>): Promise<T>;
}

type Unit = {
  orgIds: readonly string[];
  work: (trx: Trx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
};

/** A group larger than this waits for the next transaction (bounded lock hold time). */
const MAX_GROUP = 128;

/**
 * What a transaction already knows, to save round trips: the chain locks it holds and, while it holds an org's
 * lock, that chain's head as its own last append left it (nobody else can append meanwhile). A unit rolled back
 * to its savepoint forgets the heads (its appends are undone).
 */
interface TrxState {
  locks: Set<string>;
  heads: Map<string, { seq: number; hash: string }>;
  signingKeys: Map<string, unknown>;
}
const states = new WeakMap<Trx, TrxState>();

export function trxState(trx: Trx): TrxState {
  let state = states.get(trx);
  if (!state) {
    state = { locks: new Set(), heads: new Map(), signingKeys: new Map() };
    states.set(trx, state);
  }
  return state;
}

/** The chain lock of an org, taken inside a transaction and held until it ends. */
export async function lockOrgChain(trx: Trx, orgId: string): Promise<void> {
  const { locks } = trxState(trx);
  if (locks.has(orgId)) return;
  // SQLite: one connection, transactions are already serialised.
  if (!isSqlite(trx))
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`gatehouse.audit:${orgId}`}, 0))`.execute(trx);
  locks.add(orgId);
}

export function sharedGroupCommit(db: AnyKysely): SharedGroupCommit {
  let pending: Unit[] = [];
  let running = false;
  const sqlite = isSqlite(db);

  async function commit(units: Unit[]): Promise<void> {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      await db.transaction().execute(async (trx) => {
        outcomes.length = 0;
        const orgs = [...new Set(units.flatMap((u) => u.orgIds))].sort();
        for (const org of orgs) await lockOrgChain(trx, org);
        // Each unit in its own savepoint; on PostgreSQL, releasing one and opening the next is one round trip.
        const statements = (...list: string[]) =>
          sqlite
            ? list.reduce((done, s) => done.then(() => sql.raw(s).execute(trx)).then(() => {}), Promise.resolve())
            : sql
                .raw(list.join("; "))
                .execute(trx)
                .then(() => {});
        await statements("SAVEPOINT unit");
        for (const [i, unit] of units.entries()) {
          const next = i + 1 < units.length ? ["SAVEPOINT unit"] : [];
          try {
            const value = await unit.work(trx);
            await statements("RELEASE SAVEPOINT unit", ...next);
            outcomes.push({ ok: true, value });
          } catch (error) {
            trxState(trx).heads.clear();
            await statements("ROLLBACK TO SAVEPOINT unit", "RELEASE SAVEPOINT unit", ...next);
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The transaction did not commit (connection lost, database down): nothing of the group was written.
      for (const unit of units) unit.reject(error);
      return;
    }
    for (const [i, outcome] of outcomes.entries()) {
      const unit = units[i]!; // one outcome per unit, in order
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    }
  }

  async function drain(): Promise<void> {
    if (running) return;
    running = true;
    try {
      // Units arriving while a group commits form the next group (at most one transaction in flight per node,
      // so the group grows with the load instead of the number of transactions).
      while (pending.length > 0) {
        const units = pending.slice(0, MAX_GROUP);
        pending = pending.slice(units.length);
        await commit(units);
      }
    } finally {
      running = false;
    }
  }

  return {
    run<T>(orgIds: readonly string[], work: (trx: Trx) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const unit: Unit = { orgIds, work, resolve: resolve as (value: unknown) => void, reject };
        // setImmediate: after the current I/O phase, so every request read in it can join the same group.
        if (pending.push(unit) === 1 && !running) setImmediate(() => void drain());
      });
    },
  };
}
