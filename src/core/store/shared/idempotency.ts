// Idempotency keys in the shared store: the same contract, statements (../idempotency-queries.ts), lease rule
// (src/core/idempotency/leases.ts) and answers as src/core/idempotency, for several nodes.
// The claim is the primary key: `INSERT … ON CONFLICT DO NOTHING` lets exactly one caller in the cluster
// insert the in-flight row (one winner per key); everyone else reads the row and either replays the
// completed answer, is told the body differs (conflict), or waits — on this node for the winner's promise,
// on another node by polling the row until it completes, is released, or its owner's lease runs out. An expired
// claim is taken over or settled by compare-and-set on the row as read, so one node wins that race too.
import { randomUUID } from "node:crypto";
import type { BeginInput, BeginResult, IdempotencyScope, WaitResult } from "../../idempotency";
import {
  afterCompletion,
  answerForTaken,
  completedEarlier,
  foreignRowVerdict,
  IdempotencyKeyLostError,
  ownEntry,
  sameRequest,
  settlement,
} from "../../idempotency/idempotency";
import {
  DEFAULT_LEASE_MS,
  DEFAULT_RENEW_EVERY_MS,
  heartbeat,
  inFlightVerdict,
  type LeaseOptions,
} from "../../idempotency/leases";
import {
  claimKey,
  completeKey,
  deleteExpiredKey,
  type IdempotencyRow,
  purgeExpiredKeys,
  releaseKey,
  renewLeases,
  selectKey,
  settleClaim,
  takeOverClaim,
} from "../idempotency-queries";
import type { AnyKysely } from "../postgres";

export interface SharedIdempotencyStore {
  begin(input: BeginInput): Promise<BeginResult>;
  complete(scope: IdempotencyScope, body: Record<string, unknown>, status?: number): Promise<void>;
  release(scope: IdempotencyScope): Promise<void>;
  /** See IdempotencyStore.owner: what the reservation's link compares (./reservations.ts). */
  readonly owner: string;
  purgeExpired(): Promise<number>;
}

export interface SharedIdempotencyOptions extends LeaseOptions {
  ttlMs?: number;
  now?: () => Date;
  /** How long a waiter whose first caller is on another node waits before answering `unknown`. */
  foreignWaitMs?: number;
  pollIntervalMs?: number;
}

type Waiter = { settle: (result: WaitResult) => void; wait: Promise<WaitResult> };
type Input = BeginInput;

export function createSharedIdempotencyStore(
  db: AnyKysely,
  options: SharedIdempotencyOptions = {},
): SharedIdempotencyStore {
  const ttlMs = options.ttlMs ?? 24 * 60 * 60 * 1000;
  const now = options.now ?? (() => new Date());
  const foreignWaitMs = options.foreignWaitMs ?? 30_000;
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const owner = options.owner ?? `node-${randomUUID()}`;
  const local = new Map<string, Waiter>();
  const keyOf = (s: IdempotencyScope) => JSON.stringify([s.org_id, s.agent_id, s.key]);
  const leaseFrom = (at: Date) => new Date(at.getTime() + leaseMs).toISOString();
  const beats = heartbeat(
    options.renewEveryMs ?? DEFAULT_RENEW_EVERY_MS,
    () => local.size > 0,
    () => renewLeases(db, { owner, lease_until: leaseFrom(now()) }).execute(),
  );

  const read = (s: IdempotencyScope) => selectKey(db, s).executeTakeFirst();

  async function waitForForeign(scope: IdempotencyScope): Promise<WaitResult> {
    const deadline = Date.now() + foreignWaitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
      const row = await read(scope);
      if (!row) return { state: "released" };
      const verdict = foreignRowVerdict(row, now());
      if (verdict) return verdict;
    }
    return { state: "unknown" };
  }

  async function claim(input: Input, at: Date): Promise<boolean> {
    await deleteExpiredKey(db, { ...input, at: at.toISOString() }).execute();
    const inserted = await claimKey(db, {
      org_id: input.org_id,
      agent_id: input.agent_id,
      key: input.key,
      request_hash: input.requestHash,
      created_at: at.toISOString(),
      expires_at: new Date(at.getTime() + ttlMs).toISOString(),
      owner,
      lease_until: leaseFrom(at),
    }).executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  function owned(input: IdempotencyScope): BeginResult {
    local.set(keyOf(input), ownEntry());
    beats.ensure();
    return { state: "new" };
  }

  /** An expired claim: taken over or settled (see leases.ts); undefined when another node won; null: not expired. */
  async function resolveExpired(row: IdempotencyRow, input: Input, at: Date) {
    const verdict = inFlightVerdict(row, input, at);
    if (verdict.do === "take_over") {
      const taken = await takeOverClaim(db, {
        ...verdict.seen,
        owner_next: owner,
        lease_next: leaseFrom(at),
      }).executeTakeFirst();
      return taken.numUpdatedRows === 1n ? owned(input) : undefined;
    }
    if (verdict.do === "settle") {
      const settled = await settleClaim(db, settlement(verdict.seen, verdict.interaction_id, at)).executeTakeFirst();
      if (settled.numUpdatedRows !== 1n) return undefined;
      return { state: "outcome_unknown", interaction_id: verdict.interaction_id, settled: true } as const;
    }
    return null;
  }

  const store: SharedIdempotencyStore = {
    owner,

    async begin(input) {
      for (;;) {
        const at = now();
        if (await claim(input, at)) return owned(input);
        const row = await read(input);
        if (!row) continue; // released between our INSERT and SELECT: claim again
        if (sameRequest(row.request_hash, input) && row.state === "in_flight") {
          const resolved = await resolveExpired(row, input, at);
          if (resolved === undefined) continue; // another node acted on the expired claim first: read it again
          if (resolved !== null) return resolved;
        }
        const waiter = local.get(keyOf(input));
        return answerForTaken(row, input, () => (waiter ? waiter.wait : waitForForeign(input)));
      }
    },

    async complete(scope, body, status = 200) {
      let outcome: WaitResult | "not stored" = "not stored";
      try {
        const updated = await completeKey(db, {
          ...scope,
          status,
          response: JSON.stringify(body),
          completed_at: now().toISOString(),
          owner,
        }).executeTakeFirst();
        const row = await read(scope);
        // No row updated: an earlier attempt committed it (its reply lost with the connection), or the key is lost.
        if (updated.numUpdatedRows !== 1n) completedEarlier(row, scope.key);
        outcome = (row && foreignRowVerdict(row, now())) ?? { state: "unknown" };
      } catch (err) {
        if (err instanceof IdempotencyKeyLostError) outcome = { state: "unknown" };
        throw err;
      } finally {
        // Not stored yet: the entry stays (a fresh one), so the heartbeat keeps renewing the lease while it is retried.
        afterCompletion(local, keyOf(scope), outcome, ownEntry);
      }
    },

    async release(scope) {
      const waiter = local.get(keyOf(scope));
      local.delete(keyOf(scope));
      try {
        await releaseKey(db, { ...scope, owner }).execute();
      } finally {
        // Nothing ran: this node's waiters claim again (the row, if still there, makes them wait for it).
        waiter?.settle({ state: "released" });
      }
    },

    async purgeExpired() {
      const result = await purgeExpiredKeys(db, { at: now().toISOString() }).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
  return store;
}
