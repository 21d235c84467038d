// The idempotent wrapper: with an `idempotency_key`, a replay returns the first answer, the same key with another
// body is a conflict, and concurrent duplicates wait for the first one's answer (src/core/idempotency).
import { idempotencyRequestHash } from "../idempotency";
import type { ExecuteOnce } from "./execute";
import type { IdempotencyPort } from "./ports";
import { ActionConflictError, ActionUnavailableError, type ExecuteResponse } from "./types";

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
      try {
        const response = await executeOnce(orgId, request, options);
        await store.complete(scope, response as unknown as Record<string, unknown>, 200);
        return response;
      } catch (err) {
        await store.release(scope);
        throw err;
      }
    }
    throw inFlight(key);
  };
}
