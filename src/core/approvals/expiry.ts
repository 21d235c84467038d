// Expiry of approvals past `expires_at` (pending, or approved but never used): lazily on every read, and by a
// timer that catches up with bursts and with orgs nobody reads. Expiry is a verdict too: the decision listeners
// (the audit log) run in the same transaction as the status change.
import { logger } from "../log/logger";
import type { Db } from "../store/sqlite";
import { fromRow, type Row, selectApproval } from "./rows";
import type { Approval } from "./types";

const log = logger.child({ module: "approvals" });

/** At most this many overdue approvals are expired by one call; the store's timer takes care of the rest. */
export const EXPIRY_BATCH = 200;

/**
 * Statements that find and expire pending or approved-but-unused approvals past `expires_at`, for one org or
 * all of them. Both go through the expiry indexes of migration 0005 (status, expires_at), so the work is the
 * overdue rows only, never every pending one, and one sweep expires at most EXPIRY_BATCH of them. The probe is
 * read-only, so that the usual read (nothing overdue) does not take the write lock.
 */
const overdue = (scope: string) => `status IN ('pending', 'approved') AND expires_at <= @now ${scope}`;

/** The expiry SQL, by scope (exported so a test can check its query plan). */
export function expirySql(scope: "org" | "all"): { probe: string; sweep: string } {
  const where = overdue(scope === "org" ? "AND org_id = @org_id" : "");
  return {
    probe: `SELECT 1 AS found FROM approvals WHERE ${where} LIMIT 1`,
    sweep: `UPDATE approvals SET status = 'expired' WHERE approval_id IN
         (SELECT approval_id FROM approvals WHERE ${where} LIMIT ${EXPIRY_BATCH})
       RETURNING *`,
  };
}

function expiryStatements(db: Db) {
  const forScope = (scope: "org" | "all") => ({
    probe: db.prepare<{ now: string; org_id?: string }, { found: 1 }>(expirySql(scope).probe),
    sweep: db.prepare<{ now: string; org_id?: string }, Row>(expirySql(scope).sweep),
  });
  const org = forScope("org");
  const all = forScope("all");
  const one = db.prepare<{ now: string; org_id: string; approval_id: string }, Row>(
    `UPDATE approvals SET status = 'expired'
     WHERE org_id = @org_id AND approval_id = @approval_id AND ${overdue("")} RETURNING *`,
  );
  return { scope: (org_id?: string) => (org_id === undefined ? all : org), one };
}

export interface ExpiryDeps {
  now: () => Date;
  /** Runs the decision listeners on approvals that reached a verdict, inside the current transaction. */
  notify: (approvals: Approval[]) => Approval[];
  /** Publishes `approval.expired` for each, after the commit. */
  announceExpired: (approvals: Approval[]) => void;
  /** Every this many ms, overdue approvals of every org are expired; 0 = only on reads. */
  sweepMs: number;
}

export interface Expiry {
  /** Expires at most EXPIRY_BATCH overdue approvals of the org (or of every org); returns how many. */
  expire(org_id?: string): number;
  /**
   * Brings one approval up to date as of `at` (default now), even when a burst left more overdue than one sweep
   * takes: the org's batch, then this approval if it is overdue too.
   */
  expireOne(org_id: string, approval_id: string, at?: Date): void;
  /** Stops the sweep timer. */
  close(): void;
}

export function createExpiry(db: Db, deps: ExpiryDeps): Expiry {
  const { now, notify } = deps;
  const statements = expiryStatements(db);
  const scoped = (at: Date, org_id?: string) =>
    org_id === undefined ? { now: at.toISOString() } : { now: at.toISOString(), org_id };
  const sweepAndNotify = db.transaction((at: Date, org_id?: string): Approval[] =>
    notify(statements.scope(org_id).sweep.all(scoped(at, org_id)).map(fromRow)),
  );
  // One approval read by id is brought up to date even when a burst left more overdue than one sweep takes.
  const expireOneAndNotify = db.transaction((at: Date, org_id: string, approval_id: string): Approval[] =>
    notify(statements.one.all({ now: at.toISOString(), org_id, approval_id }).map(fromRow)),
  );

  const announced = (expired: Approval[]): number => {
    deps.announceExpired(expired);
    return expired.length;
  };

  function expire(org_id?: string): number {
    const at = now();
    if (!statements.scope(org_id).probe.get(scoped(at, org_id))) return 0;
    // IMMEDIATE when on its own (a read found something overdue); a savepoint inside create/decide.
    return announced(sweepAndNotify.immediate(at, org_id));
  }

  function expireOne(org_id: string, approval_id: string, at: Date = now()): void {
    expire(org_id);
    const current = selectApproval(db, org_id, approval_id);
    if (!current || (current.status !== "pending" && current.status !== "approved")) return;
    if (current.expires_at > at.toISOString()) return;
    announced(expireOneAndNotify.immediate(at, org_id, approval_id));
  }

  // The timer catches up with bursts (more overdue than one call expires) and with orgs nobody reads.
  const sweeper =
    deps.sweepMs > 0
      ? setInterval(() => {
          try {
            while (expire() === EXPIRY_BATCH);
          } catch (err) {
            log.warn({ err: String(err) }, "approval expiry sweep failed");
          }
        }, deps.sweepMs).unref()
      : undefined;

  return {
    expire,
    expireOne,
    close() {
      if (sweeper) clearInterval(sweeper);
    },
  };
}
