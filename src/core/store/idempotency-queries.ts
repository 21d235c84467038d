// The idempotency keys' statements, written once for both backends: the embedded store compiles them once with
// `$` parameters (src/core/idempotency/idempotency.ts, through ./sqlite-query.ts), the shared store runs them with
// each call's values (./shared/idempotency.ts). The claim is the primary key (org, agent, key): `INSERT … ON
// CONFLICT DO NOTHING` lets exactly one caller insert the in-flight row.
import type { Kysely } from "kysely";
import type { Database, IdempotencyKeysTable } from "./schema";

interface Scope {
  org_id: string;
  agent_id: string;
  key: string;
}

/** What a caller that did not win the claim reads of the row. */
export type IdempotencyRow = Pick<
  IdempotencyKeysTable,
  "request_hash" | "state" | "status" | "response" | "created_at"
>;

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
  row: Scope & { request_hash: string; created_at: string; expires_at: string },
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
    })
    .onConflict((oc) => oc.doNothing());
}

export function selectKey(b: Kysely<Database>, scope: Scope) {
  return b
    .selectFrom("idempotency_keys")
    .select(["request_hash", "state", "status", "response", "created_at"])
    .where("org_id", "=", scope.org_id)
    .where("agent_id", "=", scope.agent_id)
    .where("key", "=", scope.key);
}

/** Stores the winner's answer; changes nothing unless the key is still in flight. */
export function completeKey(
  b: Kysely<Database>,
  answer: Scope & { status: number; response: string; completed_at: string },
) {
  return b
    .updateTable("idempotency_keys")
    .set({ state: "completed", status: answer.status, response: answer.response, completed_at: answer.completed_at })
    .where("org_id", "=", answer.org_id)
    .where("agent_id", "=", answer.agent_id)
    .where("key", "=", answer.key)
    .where("state", "=", "in_flight");
}

/** Gives an in-flight key up without an answer (a retry may execute). */
export function releaseKey(b: Kysely<Database>, scope: Scope) {
  return b
    .deleteFrom("idempotency_keys")
    .where("org_id", "=", scope.org_id)
    .where("agent_id", "=", scope.agent_id)
    .where("key", "=", scope.key)
    .where("state", "=", "in_flight");
}

export function purgeExpiredKeys(b: Kysely<Database>, at: { at: string }) {
  return b.deleteFrom("idempotency_keys").where("expires_at", "<=", at.at);
}
