// Idempotency keys in the shared store: the same contract, statements (../idempotency-queries.ts) and answers as
// src/core/idempotency, for several nodes.
// The claim is the primary key: `INSERT … ON CONFLICT DO NOTHING` lets exactly one caller in the cluster
// insert the in-flight row (one winner per key); everyone else reads the row and either replays the
// completed answer, is told the body differs (conflict), or waits — on this node for the winner's promise,
// on another node by polling the row until it completes or is released.
import type { BeginResult, IdempotencyScope, WaitResult } from "../../idempotency";
import { answerForTaken, replayOf } from "../../idempotency/idempotency";
import {
  claimKey,
  completeKey,
  deleteExpiredKey,
  purgeExpiredKeys,
  releaseKey,
  selectKey,
} from "../idempotency-queries";
import type { AnyKysely } from "../postgres";

export interface SharedIdempotencyStore {
  begin(input: IdempotencyScope & { requestHash: string }): Promise<BeginResult>;
  complete(scope: IdempotencyScope, body: Record<string, unknown>, status?: number): Promise<void>;
  release(scope: IdempotencyScope): Promise<void>;
  purgeExpired(): Promise<number>;
}

export interface SharedIdempotencyOptions {
  ttlMs?: number;
  now?: () => Date;
  /** How long a waiter whose first caller is on another node waits before answering `unknown`. */
  foreignWaitMs?: number;
  pollIntervalMs?: number;
}

type Waiter = { settle: (result: WaitResult) => void; wait: Promise<WaitResult> };

export function createSharedIdempotencyStore(
  db: AnyKysely,
  options: SharedIdempotencyOptions = {},
): SharedIdempotencyStore {
  const ttlMs = options.ttlMs ?? 24 * 60 * 60 * 1000;
  const now = options.now ?? (() => new Date());
  const foreignWaitMs = options.foreignWaitMs ?? 30_000;
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const local = new Map<string, Waiter>();
  const keyOf = (s: IdempotencyScope) => JSON.stringify([s.org_id, s.agent_id, s.key]);

  const read = (s: IdempotencyScope) => selectKey(db, s).executeTakeFirst();

  async function waitForForeign(scope: IdempotencyScope): Promise<WaitResult> {
    const deadline = Date.now() + foreignWaitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
      const row = await read(scope);
      if (!row) return { state: "released" };
      if (row.state === "completed") return replayOf(row);
    }
    return { state: "unknown" };
  }

  async function claim(input: IdempotencyScope & { requestHash: string }, at: Date): Promise<boolean> {
    await deleteExpiredKey(db, { ...input, at: at.toISOString() }).execute();
    const inserted = await claimKey(db, {
      org_id: input.org_id,
      agent_id: input.agent_id,
      key: input.key,
      request_hash: input.requestHash,
      created_at: at.toISOString(),
      expires_at: new Date(at.getTime() + ttlMs).toISOString(),
    }).executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  const store: SharedIdempotencyStore = {
    async begin(input) {
      for (;;) {
        if (await claim(input, now())) {
          let settle!: (result: WaitResult) => void;
          const wait = new Promise<WaitResult>((resolve) => (settle = resolve));
          local.set(keyOf(input), { settle, wait });
          return { state: "new" };
        }
        const row = await read(input);
        if (!row) continue; // released between our INSERT and SELECT: claim again
        const waiter = local.get(keyOf(input));
        return answerForTaken(row, input, () => (waiter ? waiter.wait : waitForForeign(input)));
      }
    },

    async complete(scope, body, status = 200) {
      const waiter = local.get(keyOf(scope));
      local.delete(keyOf(scope));
      // Whatever happens below, this node's waiters get an answer: the replay, or `unknown` when the answer could
      // not be stored (the key stays in flight, as on every other node; never `released`: the call has run).
      let replay: WaitResult = { state: "unknown" };
      try {
        const updated = await completeKey(db, {
          ...scope,
          status,
          response: JSON.stringify(body),
          completed_at: now().toISOString(),
        }).executeTakeFirst();
        if (updated.numUpdatedRows !== 1n) throw new Error(`idempotency: key "${scope.key}" is not in flight`);
        const row = await read(scope);
        if (row) replay = replayOf(row);
      } finally {
        waiter?.settle(replay);
      }
    },

    async release(scope) {
      const waiter = local.get(keyOf(scope));
      local.delete(keyOf(scope));
      try {
        await releaseKey(db, scope).execute();
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
