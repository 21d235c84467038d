// The idempotency keys' statements, written once for both backends: the embedded store compiles them once with
// `$` parameters (src/core/idempotency/idempotency.ts, through ./sqlite-query.ts), the shared store runs them with
// each call's values (./shared/idempotency.ts). The claim is the primary key (org, agent, key): `INSERT … ON
// CONFLICT DO NOTHING` lets exactly one caller insert the in-flight row.
//
// Leases (migration 0007): the claim names its owner and how long it is known alive; the owner renews it while
// its call runs. Every write that acts on a claim after the fact is a compare-and-set on the row as it was read
// (owner, lease, link), so of the nodes that race to act on one expired claim exactly one wins.
import type { Kysely, Updateable } from "kysely";
import type { Database, IdempotencyKeysTable } from "./schema";

interface Scope {
  org_id: string;
  agent_id: string;
  key: string;
}

/** What a caller that did not win the claim reads of the row. */
export type IdempotencyRow = Pick<
  IdempotencyKeysTable,
  "request_hash" | "state" | "status" | "response" | "created_at" | "owner" | "lease_until" | "interaction_id"
>;

/** The claim as it was read: what a takeover or a settlement compares before it writes. */
export type ClaimSeen = Scope & { owner: string; lease_until: string };

/** Removes the key's row if it has expired (so the key can be claimed again). */
export function deleteExpiredKey(b: Kysely<Database>, scope: Scope & { at: string }) {
  return b
    .deleteFrom("idempotency_keys")
    .where("org_id", "=", scope.org_id)
    .where("agent_id", "=", scope.agent_id)
    .where("key", "=", scope.key)
    .where("expires_at", "<=", scope.at);
}

/** The claim: inserts the in-flight row, or nothing when the key is taken (one winner per key). */
export function claimKey(
  b: Kysely<Database>,
  row: Scope & { request_hash: string; created_at: string; expires_at: string; owner: string; lease_until: string },
) {
  return b
    .insertInto("idempotency_keys")
    .values({
      org_id: row.org_id,
      agent_id: row.agent_id,
      key: row.key,
      request_hash: row.request_hash,
      state: "in_flight",
      created_at: row.created_at,
      expires_at: row.expires_at,
      owner: row.owner,
      lease_until: row.lease_until,
    })
    .onConflict((oc) => oc.doNothing());
}

export function selectKey(b: Kysely<Database>, scope: Scope) {
  return b
    .selectFrom("idempotency_keys")
    .select(["request_hash", "state", "status", "response", "created_at", "owner", "lease_until", "interaction_id"])
    .where("org_id", "=", scope.org_id)
    .where("agent_id", "=", scope.agent_id)
    .where("key", "=", scope.key);
}

/** Stores the owner's answer; changes nothing unless the key is still in flight and still this owner's. */
export function completeKey(
  b: Kysely<Database>,
  answer: Scope & { status: number; response: string; completed_at: string; owner: string },
) {
  return b
    .updateTable("idempotency_keys")
    .set({ state: "completed", status: answer.status, response: answer.response, completed_at: answer.completed_at })
    .where("org_id", "=", answer.org_id)
    .where("agent_id", "=", answer.agent_id)
    .where("key", "=", answer.key)
    .where("state", "=", "in_flight")
    .where("owner", "=", answer.owner);
}

/** Gives an in-flight key up without an answer (a retry may execute); only its owner can. */
export function releaseKey(b: Kysely<Database>, scope: Scope & { owner: string }) {
  return b
    .deleteFrom("idempotency_keys")
    .where("org_id", "=", scope.org_id)
    .where("agent_id", "=", scope.agent_id)
    .where("key", "=", scope.key)
    .where("state", "=", "in_flight")
    .where("owner", "=", scope.owner);
}

/** The heartbeat: one statement extends every claim this owner still holds. */
export function renewLeases(b: Kysely<Database>, lease: { owner: string; lease_until: string }) {
  return b
    .updateTable("idempotency_keys")
    .set({ lease_until: lease.lease_until })
    .where("owner", "=", lease.owner)
    .where("state", "=", "in_flight");
}

/**
 * The owner's point of no return: links the claim to the interaction whose intent is reserved IN THE SAME
 * transaction (src/core/governance/sqlite-adapters.ts, ./shared/reservations.ts), so a linked row always has its
 * intent. A compare-and-set on the owner and the unset link: it and a takeover (which needs the link unset) cannot
 * both succeed, and an owner whose claim was taken over updates no row (its reservation then writes nothing).
 */
export function linkIntent(b: Kysely<Database>, link: Scope & { owner: string; interaction_id: string }) {
  return b
    .updateTable("idempotency_keys")
    .set({ interaction_id: link.interaction_id })
    .where("org_id", "=", link.org_id)
    .where("agent_id", "=", link.agent_id)
    .where("key", "=", link.key)
    .where("state", "=", "in_flight")
    .where("owner", "=", link.owner)
    .where("interaction_id", "is", null);
}

/** An expired claim whose owner never reached its intent, taken over by `owner` (one winner among racers). */
export function takeOverClaim(b: Kysely<Database>, seen: ClaimSeen & { owner_next: string; lease_next: string }) {
  return updateAsSeen(b, seen, { owner: seen.owner_next, lease_until: seen.lease_next }).where(
    "interaction_id",
    "is",
    null,
  );
}

/** An expired claim whose call may have run, settled for good with the outcome-unknown answer (one winner). */
export function settleClaim(
  b: Kysely<Database>,
  seen: ClaimSeen & { status: number; response: string; completed_at: string },
) {
  const answer = { state: "completed" as const, status: seen.status, response: seen.response };
  return updateAsSeen(b, seen, { ...answer, completed_at: seen.completed_at }).where("interaction_id", "is not", null);
}

/** An UPDATE of the in-flight row only if it is still as it was read (owner and lease unchanged). */
function updateAsSeen(b: Kysely<Database>, seen: ClaimSeen, values: Updateable<IdempotencyKeysTable>) {
  return b
    .updateTable("idempotency_keys")
    .set(values)
    .where("org_id", "=", seen.org_id)
    .where("agent_id", "=", seen.agent_id)
    .where("key", "=", seen.key)
    .where("state", "=", "in_flight")
    .where("owner", "=", seen.owner)
    .where("lease_until", "=", seen.lease_until);
}

export function purgeExpiredKeys(b: Kysely<Database>, at: { at: string }) {
  return b.deleteFrom("idempotency_keys").where("expires_at", "<=", at.at);
}
