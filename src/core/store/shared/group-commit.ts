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
import type { Database } from "../schema";

export type Trx = Transaction<Database>;

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
  heads: Map<string, ChainLink>;
  signingKeys: Map<string, unknown>;
}
const states = new WeakMap<Trx, TrxState>();

/** A chain's head: its seq, hash and time (epoch ms: no record may be stamped far before it, ./audit-chain.ts). */
export type ChainLink = { seq: number; hash: string; ms: number };

export function trxState(trx: Trx): TrxState {
  let state = states.get(trx);
  if (!state) {
    state = { locks: new Set(), heads: new Map(), signingKeys: new Map() };
    states.set(trx, state);
  }
  return state;
}

/** The advisory-lock key of an org's chain (hashed by PostgreSQL: the same lock on every node). */
const chainLockKey = (orgId: string) => `gatehouse.audit:${orgId}`;

/** A SQL string literal, as an escape string (E'…'), so it means the same whatever standard_conforming_strings. */
function literal(value: string): string {
  if (value.includes("\0")) throw new Error("group commit: an org id cannot contain NUL");
  return `E'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** The chain lock of an org, taken inside a transaction and held until it ends. */
export async function lockOrgChain(trx: Trx, orgId: string): Promise<void> {
  const { locks } = trxState(trx);
  if (locks.has(orgId)) return;
  // SQLite: one connection, transactions are already serialised.
  if (!isSqlite(trx)) await sql`SELECT pg_advisory_xact_lock(hashtextextended(${chainLockKey(orgId)}, 0))`.execute(trx);
  locks.add(orgId);
}

export function sharedGroupCommit(db: AnyKysely): SharedGroupCommit {
  let pending: Unit[] = [];
  let running = false;
  const sqlite = isSqlite(db);

  /**
   * Runs the units in `trx` (whose chain locks are taken), each in its own savepoint when there are several;
   * `send` sends statements in one round trip. A lone unit needs no savepoint: when it throws, the whole
   * transaction rolls back, which undoes exactly its writes. Returns the outcomes and the statements that must
   * precede the COMMIT (sent with it, in the same round trip, on PostgreSQL).
   */
  async function runUnits(trx: Trx, units: Unit[], send: (list: string[]) => Promise<void>) {
    const outcomes: Settled<unknown>[] = [];
    if (units.length === 1) {
      outcomes.push({ ok: true, value: await units[0]!.work(trx) });
      return { outcomes, beforeCommit: [] as string[] };
    }
    let beforeCommit: string[] = [];
    for (const [i, unit] of units.entries()) {
      const last = i + 1 === units.length;
      const next = last ? [] : ["SAVEPOINT unit"];
      let owed: string[];
      try {
        const value = await unit.work(trx);
        owed = ["RELEASE SAVEPOINT unit", ...next];
        outcomes.push({ ok: true, value });
      } catch (error) {
        trxState(trx).heads.clear();
        owed = ["ROLLBACK TO SAVEPOINT unit", "RELEASE SAVEPOINT unit", ...next];
        outcomes.push({ ok: false, error });
      }
      if (last) beforeCommit = owed;
      else await send(owed);
    }
    return { outcomes, beforeCommit };
  }

  /** SQLite (the contract suite): Kysely's transaction, one statement at a time. */
  function sqliteTransaction(units: Unit[]): Promise<Settled<unknown>[]> {
    return db.transaction().execute(async (trx) => {
      const send = async (list: string[]) => {
        for (const statement of list) await sql.raw(statement).execute(trx);
      };
      if (units.length > 1) await send(["SAVEPOINT unit"]);
      const { outcomes, beforeCommit } = await runUnits(trx, units, send);
      await send(beforeCommit);
      return outcomes;
    });
  }

  /**
   * PostgreSQL: the transaction by hand on one pooled connection, so that BEGIN, the chain locks and the first
   * savepoint are ONE round trip, and the last RELEASE and the COMMIT another (simple-query batches; each
   * statement still runs on its own, in order, and an error stops the batch).
   */
  function postgresTransaction(units: Unit[]): Promise<Settled<unknown>[]> {
    return db.connection().execute(async (connection) => {
      const trx = connection as unknown as Trx; // one connection, used only inside this transaction
      const send = async (list: string[]) => {
        if (list.length > 0) await sql.raw(list.join("; ")).execute(trx);
      };
      const orgs = [...new Set(units.flatMap((u) => u.orgIds))].sort();
      try {
        await send([
          "BEGIN",
          ...orgs.map((org) => `SELECT pg_advisory_xact_lock(hashtextextended(${literal(chainLockKey(org))}, 0))`),
          ...(units.length > 1 ? ["SAVEPOINT unit"] : []),
        ]);
        for (const org of orgs) trxState(trx).locks.add(org);
        const { outcomes, beforeCommit } = await runUnits(trx, units, send);
        if (beforeCommit.length > 0) await send([...beforeCommit, "COMMIT"]);
        else {
          const { rows } = await sql.raw<{ command?: string }>("COMMIT").execute(trx);
          // PostgreSQL answers COMMIT with ROLLBACK when an earlier error had aborted the transaction.
          if (rows[0]?.command === "ROLLBACK") throw new Error("group commit: the transaction was rolled back");
        }
        return outcomes;
      } catch (error) {
        await sql
          .raw("ROLLBACK")
          .execute(trx)
          .catch(() => {});
        throw error;
      }
    });
  }

  async function commit(units: Unit[]): Promise<void> {
    let outcomes: Settled<unknown>[];
    try {
      outcomes = await (sqlite ? sqliteTransaction(units) : postgresTransaction(units));
    } catch (error) {
      // The transaction did not commit (connection lost, database down, a lone unit refused): nothing of the
      // group was written.
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

/** What one item of a batch came to: its value, or the error only that item is refused with. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Items one batch unit takes at most; the rest wait for the next unit (bounded lock hold time). */
const MAX_BATCH = 256;

/**
 * Items of one org that run as ONE unit of the node's next group transaction, so the unit's statements are
 * per batch (one multi-row INSERT, one budget UPDATE), not per request. The unit takes its items when the group
 * transaction reaches it — not when it was queued — so everything that arrived while the previous group was
 * committing joins it. Each item settles after the COMMIT, with its own value or its own refusal; when the unit
 * or the transaction fails, every item of the unit is rejected (nothing of it was written).
 */
export function orgBatches<I, R>(
  groups: SharedGroupCommit,
  work: (trx: Trx, orgId: string, items: I[]) => Promise<Settled<R>[]>,
): (orgId: string, item: I) => Promise<R> {
  type Entry = { item: I; resolve: (value: R) => void; reject: (err: unknown) => void };
  const pending = new Map<string, Entry[]>();

  function schedule(orgId: string): void {
    let taken: Entry[] = [];
    const take = () => {
      const queued = pending.get(orgId) ?? [];
      taken = queued.splice(0, MAX_BATCH);
      if (queued.length === 0) pending.delete(orgId);
      else schedule(orgId); // the rest in a unit of its own
      return taken;
    };
    groups
      .run([orgId], (trx) => {
        const entries = take();
        return work(
          trx,
          orgId,
          entries.map((e) => e.item),
        );
      })
      .then(
        (results) =>
          taken.forEach((entry, i) => {
            const result = results[i]!; // one result per item, in order
            if (result.ok) entry.resolve(result.value);
            else entry.reject(result.error);
          }),
        (err) => {
          // The transaction failed before this unit ran: its items are taken (and refused) here.
          if (taken.length === 0) take();
          for (const entry of taken) entry.reject(err);
        },
      );
  }

  return (orgId, item) =>
    new Promise<R>((resolve, reject) => {
      let queued = pending.get(orgId);
      if (!queued) {
        queued = [];
        pending.set(orgId, queued);
        schedule(orgId);
      }
      queued.push({ item, resolve, reject });
    });
}
