// Group commit: the one primitive for writes that must be durable before the caller goes on (the engine's
// reservation — budget, approval consumption, audit intent — and the audit log's grouped appends).
//
// The units of work asked for during one turn of the event loop run in ONE IMMEDIATE transaction, each in its
// own savepoint (a nested better-sqlite3 transaction): a unit that throws rolls back only its own writes and
// rejects only its own promise. Every promise settles after the COMMIT, so a caller never proceeds on a write
// that is not on disk; under load one commit (one WAL append and fsync share) serves many requests.
import type { Db } from "./sqlite";

export interface GroupCommit {
  /** Runs `work` in the next group transaction; resolves with its result once that transaction committed. */
  run<T>(work: () => T): Promise<T>;
}

type Unit = { work: () => unknown; resolve: (value: unknown) => void; reject: (err: unknown) => void };
type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

export function groupCommit(db: Db): GroupCommit {
  let pending: Unit[] = [];

  const inSavepoint = db.transaction((work: () => unknown) => work());
  const commitAll = db.transaction((units: Unit[]): Settled[] =>
    units.map((unit) => {
      try {
        return { ok: true, value: inSavepoint(unit.work) };
      } catch (error) {
        // SQLite rolled the whole transaction back (e.g. disk full): nothing of the group is committed. Stop
        // rather than run the next units outside any transaction; flush retries each unit on its own.
        if (!db.inTransaction) throw error;
        return { ok: false, error };
      }
    }),
  );

  /** The shared transaction failed (e.g. no write lock in time): each unit gets its own transaction and verdict. */
  function commitOneByOne(units: Unit[]): void {
    for (const unit of units) {
      try {
        unit.resolve(inSavepoint.immediate(unit.work));
      } catch (error) {
        unit.reject(error);
      }
    }
  }

  function flush(): void {
    const units = pending;
    pending = [];
    let settled: Settled[];
    try {
      settled = commitAll.immediate(units);
    } catch {
      commitOneByOne(units);
      return;
    }
    for (const [i, outcome] of settled.entries()) {
      const unit = units[i]!; // settled has exactly one outcome per unit, in order
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    }
  }

  return {
    run<T>(work: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const unit: Unit = { work, resolve: resolve as (value: unknown) => void, reject };
        // setImmediate: after the current I/O phase, so every request read in it can join the same commit.
        if (pending.push(unit) === 1) setImmediate(flush);
      });
    },
  };
}
