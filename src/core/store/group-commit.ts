// Group commit: the one primitive for writes that must be durable before the caller goes on (the engine's
// reservation — budget, approval consumption, audit intent — and the audit log's grouped appends).
//
// The units of work asked for during one turn of the event loop run in ONE IMMEDIATE transaction, each in its
// own savepoint (a nested better-sqlite3 transaction): a unit that throws rolls back only its own writes and
// rejects only its own promise. Every promise settles after the COMMIT, so a caller never proceeds on a write
// that is not on disk; under load one commit (one WAL append and fsync share) serves many requests.
//
// While a group's units run, `openGroupOf(db)` lets their writes add work that runs once per group, after the
// last unit and before the COMMIT, inside the same transaction (the audit log signs each chain's last record of
// the group there: one signature per group instead of one per record).
import type { Db } from "./sqlite";

/** The group transaction whose units are running now. */
export interface OpenGroup {
  db: Db;
  /** Runs `hook` after the group's last unit, inside its transaction, before the COMMIT. */
  beforeCommit(hook: () => void): void;
  /**
   * Values the group's units read or wrote, for its next units: exact while the group's transaction holds the write
   * lock (no other connection can change them). Emptied when a unit rolls back, since its writes are gone.
   */
  readonly memo: Map<string, unknown>;
}

let open: OpenGroup | undefined;

/** The group being committed on `db` right now, if a unit of one is running. */
export function openGroupOf(db: Db): OpenGroup | undefined {
  return open?.db === db ? open : undefined;
}

/** Runs `work` as one group: its units may register before-commit hooks, which run when it is done. */
function asGroup<T>(db: Db, work: (group: OpenGroup) => T): T {
  const hooks: (() => void)[] = [];
  const outer = open;
  const group: OpenGroup = { db, beforeCommit: (hook) => hooks.push(hook), memo: new Map() };
  open = group;
  try {
    const value = work(group);
    for (const hook of hooks) hook();
    return value;
  } finally {
    open = outer;
  }
}

export interface GroupCommit {
  /** Runs `work` in the next group transaction; resolves with its result once that transaction committed. */
  run<T>(work: () => T): Promise<T>;
}

type Unit = { work: () => unknown; resolve: (value: unknown) => void; reject: (err: unknown) => void };
type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/** One group commit per database connection (see groupCommit). */
const groupCommits = new WeakMap<Db, GroupCommit>();

/**
 * The group commit of `db`. One per connection, whoever asks (the engine's reservations and escalations, the audit
 * log's outcomes and decisions): every write of a turn joins the same transaction, so a turn pays one BEGIN/COMMIT,
 * one signature per chain and one write of the pages they share (the chain's last leaf and index pages), not one
 * per kind of write.
 */
export function groupCommit(db: Db): GroupCommit {
  let commits = groupCommits.get(db);
  if (!commits) {
    commits = newGroupCommit(db);
    groupCommits.set(db, commits);
  }
  return commits;
}

function newGroupCommit(db: Db): GroupCommit {
  let pending: Unit[] = [];

  const inSavepoint = db.transaction((work: () => unknown) => work());
  const commitAll = db.transaction((units: Unit[]): Settled[] =>
    asGroup(db, (group) =>
      units.map((unit) => {
        try {
          return { ok: true, value: inSavepoint(unit.work) };
        } catch (error) {
          group.memo.clear();
          // SQLite rolled the whole transaction back (e.g. disk full): nothing of the group is committed. Stop
          // rather than run the next units outside any transaction; flush retries each unit on its own.
          if (!db.inTransaction) throw error;
          return { ok: false, error };
        }
      }),
    ),
  );

  /** The shared transaction failed (e.g. no write lock in time): each unit gets its own transaction and verdict. */
  function commitOneByOne(units: Unit[]): void {
    for (const unit of units) {
      try {
        unit.resolve(inSavepoint.immediate(() => asGroup(db, () => unit.work())));
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
