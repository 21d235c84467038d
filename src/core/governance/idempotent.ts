// The idempotent wrapper: with an `idempotency_key`, a replay returns the first answer, the same key with another
// body is a conflict, and concurrent duplicates wait for the first one's answer (src/core/idempotency).
import { idempotencyRequestHash, type IdempotencyScope } from "../idempotency";
import { logger } from "../log/logger";
import type { ExecuteOnce } from "./execute";
import type { IdempotencyPort } from "./ports";
import { ActionConflictError, ActionUnavailableError, type ExecuteResponse } from "./types";

const log = logger.child({ module: "governance" });

/** A released key (its first caller answered nothing) is claimed again at most this many times. */
const MAX_CLAIMS = 3;

export function idempotent(executeOnce: ExecuteOnce, store: IdempotencyPort | undefined): ExecuteOnce {
  const inFlight = (key: string) =>
    new ActionConflictError(
      `A request with idempotency key '${key}' is still in progress`,
      "IDEMPOTENCY_KEY_IN_FLIGHT",
    );

  return async function execute(orgId, request, options = {}) {
    const key = request.idempotency_key;
    if (!key) return executeOnce(orgId, request, options);
    if (!store)
      throw new ActionUnavailableError("Idempotency keys are not supported: no idempotency store is configured");

    const scope = { org_id: orgId, agent_id: request.agent_id, key };
    const requestHash = idempotencyRequestHash(request as unknown as Record<string, unknown>);
    for (let attempt = 0; attempt < MAX_CLAIMS; attempt++) {
      const begun = await store.begin({ ...scope, requestHash });
      if (begun.state === "replay") return begun.response as unknown as ExecuteResponse;
      if (begun.state === "conflict")
        throw new ActionConflictError(
          `Idempotency key '${key}' was already used with a different request`,
          "IDEMPOTENCY_KEY_REUSED",
        );
      if (begun.state === "in_flight") {
        const waited = await begun.wait;
        if (waited.state === "replay") return waited.response as unknown as ExecuteResponse;
        if (waited.state === "unknown") throw inFlight(key);
        continue; // released without an answer: try to claim it again
      }
      let response: ExecuteResponse;
      try {
        response = await executeOnce(orgId, request, options);
      } catch (err) {
        await store.release(scope);
        throw err;
      }
      await completeAfterRun(store, scope, response);
      return response;
    }
    throw inFlight(key);
  };
}

/**
 * Stores the answer of a call that has run. The action may have taken effect, so a store failure here must
 * neither release the key (a retry or a waiting duplicate would run it again) nor fail the request (inviting that
 * retry): the key stays in flight — duplicates are told so — and the caller gets the answer.
 */
async function completeAfterRun(store: IdempotencyPort, scope: IdempotencyScope, response: ExecuteResponse) {
  try {
    await store.complete(scope, response as unknown as Record<string, unknown>, 200);
  } catch (err) {
    log.error(
      { err, key: scope.key, agentId: scope.agent_id, interactionId: response.interaction_id },
      "idempotency answer not stored after the call ran: the key stays in flight and is never run again",
    );
  }
}
