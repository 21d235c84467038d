// Idempotency keys for governed actions: the same key from the same agent within the TTL (24 h by default)
// gets the original answer again instead of a second execution.
//
// Scope: org + agent + key. Two agents may use the same key without seeing each other's results.
// Same key, different request body → `conflict` (the caller answers 409).
// Concurrent duplicates: `begin` inserts the row and registers the in-flight promise in one synchronous step
// (better-sqlite3 does not yield), so of N simultaneous callers exactly one gets `new` and the others
// `in_flight` with a promise of the first one's answer. Rows live in SQLite, so completed answers survive a
// restart. A row left `in_flight` by a process that died mid-call is resolved once its lease runs out
// (./leases.ts): re-executed only when the dead owner provably never reached its audit intent, else settled
// for good as `outcome_unknown` — whether the side effect happened cannot be known, so it never runs twice.
// Multi-node: the INSERT … ON CONFLICT DO NOTHING is the claim on any shared SQL store; waiters on another
// node see the answer through polling.

import { randomUUID } from "node:crypto";
import { sha256Canonical } from "../audit/canonical";
import {
  type ClaimSeen,
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
} from "../store/idempotency-queries";
import type { Db } from "../store/sqlite";
import { sqliteQuery } from "../store/sqlite-query";
import {
  DEFAULT_LEASE_MS,
  DEFAULT_RENEW_EVERY_MS,
  heartbeat,
  inFlightVerdict,
  type LeaseOptions,
  leaseExpired,
  OUTCOME_UNKNOWN_STATUS,
  outcomeUnknownResponse,
  settledInteraction,
} from "./leases";

export interface IdempotencyScope {
  org_id: string;
  agent_id: string;
  key: string;
}

export interface IdempotentReplay {
  state: "replay";
  status: number;
  /** The original body plus `idempotent: true` and `original_timestamp`. */
  response: Record<string, unknown>;
  original_timestamp: string;
}

export type WaitResult =
  | IdempotentReplay
  /** The first caller released the key without an answer (nothing was executed): try `begin` again. */
  | { state: "released" }
  /** The first caller's lease ran out (it died) or its key was settled: `begin` again (take over, or the answer). */
  | { state: "expired" }
  /** The first caller is gone (other process, crash) and no answer arrived in time. */
  | { state: "unknown" };

/**
 * The key's call may have run on an owner that died: it is never run again. `interaction_id` is the interaction
 * the owner was reserving (its audit intent, if it got that far). `settled` is true for the one caller that
 * settled the key (it records that in the audit log); every later caller gets the same answer with false.
 */
export interface OutcomeUnknown {
  state: "outcome_unknown";
  interaction_id: string;
  settled: boolean;
}

export type BeginResult =
  | { state: "new" }
  | IdempotentReplay
  | { state: "conflict"; reason: string }
  | OutcomeUnknown
  | { state: "in_flight"; wait: Promise<WaitResult> };

export interface IdempotencyStore {
  begin(input: BeginInput): BeginResult;
  /** Stores the answer of the caller that got `new` and hands it to every waiter. */
  complete(scope: IdempotencyScope, body: Record<string, unknown>, status?: number): void;
  /** Gives the key up without an answer (e.g. a 503 before anything ran), so a retry can execute. */
  release(scope: IdempotencyScope): void;
  /**
   * The owner id of this store's claims. The call's reservation links the claim to its interaction in the same
   * commit as its audit intent, comparing this owner (src/core/governance/sqlite-adapters.ts, ./leases.ts).
   */
  readonly owner: string;
  purgeExpired(): number;
}

export interface IdempotencyOptions extends LeaseOptions {
  /** How long a key is remembered; 24 h unless configured. */
  ttlMs?: number;
  now?: () => Date;
  /** How long a waiter whose first caller is in another process waits before answering `unknown`. */
  foreignWaitMs?: number;
  pollIntervalMs?: number;
}

export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * `complete` found the key no longer in flight under this owner, with no answer of its own (settled as
 * outcome-unknown by another node after this one's lease ran out, or expired): its answer can never be stored.
 */
export class IdempotencyKeyLostError extends Error {
  constructor(key: string) {
    super(`idempotency: key "${key}" is not in flight`);
    this.name = "IdempotencyKeyLostError";
  }
}

/**
 * What `complete` does with this node's entry for the key. Stored (or lost for good): removed, its waiters get
 * `outcome`. Not stored yet (the store is away): its waiters are told `unknown` (409 in flight) and a fresh entry
 * takes its place — so the heartbeat goes on renewing the key's lease while the caller retries, and no other node
 * settles it as outcome-unknown, and a later duplicate waits for that retry.
 */
export function afterCompletion<E extends { settle: (r: WaitResult) => void }>(
  entries: Map<string, E>,
  key: string,
  outcome: WaitResult | "not stored",
  fresh: () => E,
): void {
  const entry = entries.get(key);
  if (outcome === "not stored") entries.set(key, fresh());
  else entries.delete(key);
  entry?.settle(outcome === "not stored" ? { state: "unknown" } : outcome);
}

/** What a completion whose UPDATE found no row in flight makes of the row: stored by an earlier attempt, or lost. */
export function completedEarlier(row: IdempotencyRow | undefined, key: string): IdempotentReplay {
  if (row?.state === "completed" && settledInteraction(row) === undefined) return replayOf(row);
  throw new IdempotencyKeyLostError(key);
}

/**
 * What a key's request hashes to. `formerRequestHash` is what the same request hashed to before the transport
 * context was left out (review R15): a key claimed before an upgrade keeps its old hash for its TTL (24 h), and its
 * identical retry must still replay, not be told "different request" (and retried with a new key: run twice).
 * Absent when the two are the same (every request without a transport field: REST's hashes never changed).
 */
export interface RequestHashes {
  requestHash: string;
  formerRequestHash?: string;
}

/** What `begin` is given: the key's scope and the hashes of the request it comes with. */
export type BeginInput = IdempotencyScope & RequestHashes;

/**
 * The `context` fields the gateway itself sets per transport session (the MCP face: `mcp_session_id`, a new one
 * for every session). They say how the request came, not what was asked nor for whom: a client that lost its
 * session is the one that retries, from a new session. `context.user` and `channel` stay in the hash: another
 * person reusing a key is another request (keys are scoped by org and agent, not by caller).
 */
const TRANSPORT_CONTEXT_FIELDS: readonly string[] = ["mcp_session_id"];

/** The body without the transport fields of its context; the same object when it has none. */
function withoutTransportContext(body: Record<string, unknown>): Record<string, unknown> {
  const context = body.context;
  if (typeof context !== "object" || context === null || Array.isArray(context)) return body;
  if (!TRANSPORT_CONTEXT_FIELDS.some((field) => Object.hasOwn(context, field))) return body;
  const asked: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(context))
    if (!TRANSPORT_CONTEXT_FIELDS.includes(field)) asked[field] = value;
  return Object.assign({}, body, { context: asked });
}

/**
 * Hashes of the request as the agent asked it: minus the key itself (a retry may not change anything else) and
 * minus the transport fields the gateway adds to its context; the former hash when that changed it.
 */
export function idempotencyRequestHashes(body: Record<string, unknown>): RequestHashes {
  const { idempotency_key: _ignored, ...rest } = body;
  const asked = withoutTransportContext(rest);
  const requestHash = sha256Canonical(asked);
  return asked === rest ? { requestHash } : { requestHash, formerRequestHash: sha256Canonical(rest) };
}

/** The hash a key is claimed with (idempotencyRequestHashes' `requestHash`). */
export function idempotencyRequestHash(body: Record<string, unknown>): string {
  return idempotencyRequestHashes(body).requestHash;
}

/** Whether a stored key's hash is this request's: its hash, or the one it had before R15 (both backends). */
export function sameRequest(storedHash: string, input: RequestHashes): boolean {
  return storedHash === input.requestHash || storedHash === input.formerRequestHash;
}

export function createIdempotencyStore(db: Db, options: IdempotencyOptions = {}): IdempotencyStore {
  const ttlMs = options.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
  const now = options.now ?? (() => new Date());
  const foreignWaitMs = options.foreignWaitMs ?? 30_000;
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const owner = options.owner ?? `proc-${randomUUID()}`;
  const inFlight = new Map<
    string,
    { requestHash: string; settle: (r: WaitResult) => void; wait: Promise<WaitResult> }
  >();

  const scopeKey = (s: IdempotencyScope) => JSON.stringify([s.org_id, s.agent_id, s.key]);
  const leaseFrom = (at: Date) => new Date(at.getTime() + leaseMs).toISOString();
  // The same statements as the shared store's (src/core/store/idempotency-queries.ts), compiled once here.
  type Scope = IdempotencyScope;
  const deleteExpired = sqliteQuery(db, (b, $: Scope & { at: string }) => deleteExpiredKey(b, $));
  const claim = sqliteQuery(db, (b, $: Parameters<typeof claimKey>[1]) => claimKey(b, $));
  const select = sqliteQuery(db, (b, $: Scope) => selectKey(b, $));
  const completeStmt = sqliteQuery(db, (b, $: Parameters<typeof completeKey>[1]) => completeKey(b, $));
  const releaseStmt = sqliteQuery(db, (b, $: Scope & { owner: string }) => releaseKey(b, $));
  const purgeStmt = sqliteQuery(db, (b, $: { at: string }) => purgeExpiredKeys(b, $));
  const renewStmt = sqliteQuery(db, (b, $: Parameters<typeof renewLeases>[1]) => renewLeases(b, $));
  const takeOverStmt = sqliteQuery(db, (b, $: Parameters<typeof takeOverClaim>[1]) => takeOverClaim(b, $));
  const settleStmt = sqliteQuery(db, (b, $: Parameters<typeof settleClaim>[1]) => settleClaim(b, $));
  const beats = heartbeat(
    options.renewEveryMs ?? DEFAULT_RENEW_EVERY_MS,
    () => inFlight.size > 0,
    () => void renewStmt.run({ owner, lease_until: leaseFrom(now()) }),
  );

  /** A first caller in another process (or a dead one): poll the row until it completes, vanishes or we give up. */
  async function waitForForeign(scope: IdempotencyScope): Promise<WaitResult> {
    const deadline = Date.now() + foreignWaitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
      const row = select.get(scope);
      if (!row) return { state: "released" };
      const verdict = foreignRowVerdict(row, now());
      if (verdict) return verdict;
    }
    return { state: "unknown" };
  }

  /** Registers this caller's claim: its waiters' promise, and the heartbeat that keeps its lease. */
  function owned(input: BeginInput): BeginResult {
    inFlight.set(scopeKey(input), { requestHash: input.requestHash, ...ownEntry() });
    beats.ensure();
    return { state: "new" };
  }

  /** An expired claim: taken over (its owner never linked an intent) or settled; undefined when another won. */
  function resolveExpired(row: IdempotencyRow, input: BeginInput, at: Date) {
    const verdict = inFlightVerdict(row, input, at);
    if (verdict.do === "take_over") {
      const taken = takeOverStmt.run({ ...verdict.seen, owner_next: owner, lease_next: leaseFrom(at) });
      return taken.changes === 1 ? owned(input) : undefined;
    }
    if (verdict.do === "settle") {
      const settled = settleStmt.run(settlement(verdict.seen, verdict.interaction_id, at));
      if (settled.changes !== 1) return undefined;
      return { state: "outcome_unknown", interaction_id: verdict.interaction_id, settled: true } as const;
    }
    return null;
  }

  return {
    owner,

    begin(input) {
      for (;;) {
        const at = now();
        const { org_id, agent_id, key, requestHash } = input;
        deleteExpired.run({ org_id, agent_id, key, at: at.toISOString() });
        const claimed = claim.run({
          org_id,
          agent_id,
          key,
          request_hash: requestHash,
          created_at: at.toISOString(),
          expires_at: new Date(at.getTime() + ttlMs).toISOString(),
          owner,
          lease_until: leaseFrom(at),
        });
        if (claimed.changes === 1) return owned(input);
        const row = select.get(input);
        if (!row) continue; // released between our INSERT and SELECT by another connection
        if (sameRequest(row.request_hash, input) && row.state === "in_flight") {
          const resolved = resolveExpired(row, input, at);
          if (resolved === undefined) continue; // another caller acted on the expired claim first: read it again
          if (resolved !== null) return resolved;
        }
        const local = inFlight.get(scopeKey(input));
        return answerForTaken(row, input, () => (local ? local.wait : waitForForeign(input)));
      }
    },

    complete(scope, body, status = 200) {
      const key = scopeKey(scope);
      let outcome: WaitResult | "not stored" = "not stored";
      try {
        const result = completeStmt.run({
          org_id: scope.org_id,
          agent_id: scope.agent_id,
          key: scope.key,
          status,
          response: JSON.stringify(body),
          completed_at: now().toISOString(),
          owner,
        });
        const row = select.get(scope);
        outcome = result.changes === 1 && row ? replayOf(row) : completedEarlier(row, scope.key);
      } catch (err) {
        if (err instanceof IdempotencyKeyLostError) outcome = { state: "unknown" };
        throw err;
      } finally {
        const entry = inFlight.get(key);
        afterCompletion(inFlight, key, outcome, () => ({ ...ownEntry(), requestHash: entry?.requestHash ?? "" }));
      }
    },

    release(scope) {
      releaseStmt.run({ ...scope, owner });
      const entry = inFlight.get(scopeKey(scope));
      inFlight.delete(scopeKey(scope));
      entry?.settle({ state: "released" });
    },

    purgeExpired() {
      return purgeStmt.run({ at: now().toISOString() }).changes;
    },
  };
}

/** A claim's promise for this node's waiters, and how to settle it. */
export function ownEntry(): { settle: (r: WaitResult) => void; wait: Promise<WaitResult> } {
  let settle!: (r: WaitResult) => void;
  const wait = new Promise<WaitResult>((resolve) => (settle = resolve));
  return { settle, wait };
}

/** The write that settles an expired, linked claim with the outcome-unknown answer (both backends). */
export function settlement(seen: ClaimSeen, interactionId: string, at: Date) {
  return {
    ...seen,
    status: OUTCOME_UNKNOWN_STATUS,
    response: outcomeUnknownResponse(interactionId),
    completed_at: at.toISOString(),
  };
}

/**
 * What a waiter polling another process's claim makes of the row (both backends): its answer, `expired` once its
 * owner is gone (lease out, or already settled by another caller: begin again), or undefined to keep waiting.
 */
export function foreignRowVerdict(row: IdempotencyRow, at: Date): WaitResult | undefined {
  if (row.state === "completed") return settledInteraction(row) === undefined ? replayOf(row) : { state: "expired" };
  return leaseExpired(row, at) ? { state: "expired" } : undefined;
}

/** The original answer again, marked `idempotent` with its original timestamp (both backends). */
export function replayOf(row: IdempotencyRow): IdempotentReplay {
  const body = JSON.parse(row.response ?? "{}") as Record<string, unknown>;
  const original_timestamp = typeof body.timestamp === "string" ? body.timestamp : row.created_at;
  const status = row.status === null ? 200 : Number(row.status);
  // Onto the freshly parsed body (only these two keys are set): `{ ...body, … }` is V8's slow path on Node 20.
  const response = Object.assign(body, { idempotent: true, original_timestamp });
  return { state: "replay", status, response, original_timestamp };
}

/**
 * The answer to a caller that found the key taken (both backends): another body → conflict, completed → the
 * replay, still in flight → wait for the first caller's answer (`wait`: its promise here, or polling the row).
 */
export function answerForTaken(row: IdempotencyRow, input: BeginInput, wait: () => Promise<WaitResult>): BeginResult {
  if (!sameRequest(row.request_hash, input)) {
    return { state: "conflict", reason: `Idempotency key "${input.key}" was already used with a different request` };
  }
  const settled = settledInteraction(row);
  if (settled !== undefined) return { state: "outcome_unknown", interaction_id: settled, settled: false };
  if (row.state === "completed") return replayOf(row);
  return { state: "in_flight", wait: wait() };
}
