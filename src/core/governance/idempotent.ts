// The idempotent wrapper: with an `idempotency_key`, a replay returns the first answer, the same key with another
// body is a conflict, and concurrent duplicates wait for the first one's answer (src/core/idempotency).
import { newInteractionId } from "../audit/interaction-id";
import { IdempotencyKeyLostError, type IdempotencyScope, idempotencyRequestHashes } from "../idempotency";
import { logger } from "../log/logger";
import { DEFAULT_RECORD_WAIT_MS, settlesWithin, untilStored } from "./durable";
import type { ExecuteOnce } from "./execute";
import type { GovernanceAudit, IdempotencyPort } from "./ports";
import {
  ActionConflictError,
  ActionUnavailableError,
  type ExecuteRequest,
  type ExecuteResponse,
  keyInFlight,
  OutcomePendingError,
} from "./types";

const log = logger.child({ module: "governance" });

/** The reason of the audit record of a key settled as outcome-unknown (shadow replay skips such records). */
export const OUTCOME_UNKNOWN_REASON = "IDEMPOTENCY_OUTCOME_UNKNOWN";

/** A released key (its first caller answered nothing) is claimed again at most this many times. */
const MAX_CLAIMS = 3;

/** A key whose release failed (the store is away) is released again this often, for at most this long. */
const RELEASE_RETRY_MS = 1000;
const RELEASE_RETRY_FOR_MS = 10 * 60 * 1000;

export function idempotent(
  executeOnce: ExecuteOnce,
  store: IdempotencyPort | undefined,
  audit?: Pick<GovernanceAudit, "recordDecision">,
  /** How long the answer waits for the key's answer to be stored after the call ran (30 s unless configured). */
  waitMs: number = DEFAULT_RECORD_WAIT_MS,
): ExecuteOnce {
  return async function execute(orgId, request, options = {}) {
    const key = request.idempotency_key;
    if (!key) return executeOnce(orgId, request, options);
    if (!store)
      throw new ActionUnavailableError("Idempotency keys are not supported: no idempotency store is configured");

    const scope = { org_id: orgId, agent_id: request.agent_id, key };
    const hashes = idempotencyRequestHashes(request as unknown as Record<string, unknown>);
    // The reservation links the claim to its interaction in the intent's own commit: past that point it is never
    // taken over. If it was taken over before, the reservation writes nothing and rejects (409 in flight).
    const claim = { ...scope, owner: store.owner };
    for (let attempt = 0; attempt < MAX_CLAIMS; attempt++) {
      const begun = await store.begin({ ...scope, ...hashes });
      if (begun.state === "replay") return begun.response as unknown as ExecuteResponse;
      if (begun.state === "conflict")
        throw new ActionConflictError(
          `Idempotency key '${key}' was already used with a different request`,
          "IDEMPOTENCY_KEY_REUSED",
        );
      if (begun.state === "outcome_unknown") {
        if (begun.settled) await auditSettlement(audit, orgId, request, begun.interaction_id);
        throw outcomeUnknown(key, begun.interaction_id);
      }
      if (begun.state === "in_flight") {
        const waited = await begun.wait;
        if (waited.state === "replay") return waited.response as unknown as ExecuteResponse;
        if (waited.state === "unknown") throw keyInFlight(key);
        continue; // released without an answer, or its owner died: try to claim it again
      }
      let response: ExecuteResponse;
      try {
        response = await executeOnce(orgId, request, { ...options, claim });
      } catch (err) {
        // It ran, its outcome is still being written: the key's answer is stored once that is done.
        // (An outcome given up after 24 h was logged there: the key then stays in flight, never run again.)
        if (err instanceof OutcomePendingError)
          void err.answer.then(
            (later) => completeAfterRun(store, scope, later),
            () => undefined,
          );
        else await releaseUnrun(store, scope);
        throw err;
      }
      return answerOnceStored(completeAfterRun(store, scope, response), response, waitMs);
    }
    throw keyInFlight(key);
  };
}

/** The final answer for a key whose call may have run on a node that died (documented in spec/common.tsp). */
function outcomeUnknown(key: string, interactionId: string): ActionConflictError {
  return new ActionConflictError(
    `The request with idempotency key '${key}' was being executed by a node that stopped after recording its ` +
      `intent (interaction ${interactionId}): whether the action took effect is unknown, and it is not run again`,
    "IDEMPOTENCY_OUTCOME_UNKNOWN",
    { interaction_id: interactionId },
  );
}

/**
 * Records, once (by the caller that settled the key), that the key was settled as outcome-unknown: a `decision`
 * record of the refused retry, nothing run, pointing at the interaction whose outcome is unknown (meta
 * `idempotency_outcome_unknown`, reason IDEMPOTENCY_OUTCOME_UNKNOWN). The retry was never decided, so its params are left out (no tool's redaction
 * rules were looked up) and shadow replay skips the record. A failure here is logged: the key's answer is already
 * stored and stands.
 */
async function auditSettlement(
  audit: Pick<GovernanceAudit, "recordDecision"> | undefined,
  orgId: string,
  request: ExecuteRequest,
  interactionId: string,
): Promise<void> {
  if (!audit) return;
  try {
    await audit.recordDecision({
      org_id: orgId,
      interaction_id: newInteractionId(),
      uapk_id: request.uapk_id,
      agent_id: request.agent_id,
      action: { type: request.action.type, tool: request.action.tool, params: {} },
      decision: "DENY",
      reasons: [
        {
          code: OUTCOME_UNKNOWN_REASON,
          message: `Not run: the outcome of interaction ${interactionId} (same idempotency key) is unknown`,
        },
      ],
      policy_trace: null,
      meta: {
        idempotency_key: request.idempotency_key,
        idempotency_outcome_unknown: { interaction_id: interactionId },
      },
    });
  } catch (err) {
    log.error({ err, key: request.idempotency_key, interactionId }, "outcome-unknown settlement not audited");
  }
}

/**
 * Stores the answer of a call that has run. The action may have taken effect, so a store failure here must
 * neither release the key (a retry or a waiting duplicate would run it again) nor fail the request (inviting that
 * retry), nor be dropped: it is tried again until stored (./durable.ts), the key staying in flight meanwhile — its
 * lease renewed, duplicates told it is in flight — unless the key is no longer this node's (never stored then).
 */
async function completeAfterRun(
  store: IdempotencyPort,
  scope: IdempotencyScope,
  response: ExecuteResponse,
): Promise<void> {
  try {
    await untilStored(async () => store.complete(scope, response as unknown as Record<string, unknown>, 200), {
      record: "idempotency answer",
      interactionId: response.interaction_id,
      final: (err) => err instanceof IdempotencyKeyLostError,
    });
  } catch (err) {
    log.error(
      { err, key: scope.key, agentId: scope.agent_id, interactionId: response.interaction_id },
      "idempotency answer not stored after the call ran: the key stays in flight and is never run again",
    );
  }
}

/** The answer once the key's answer is stored; past the bound, OutcomePendingError (the write goes on). */
async function answerOnceStored(stored: Promise<void>, response: ExecuteResponse, waitMs: number) {
  if (await settlesWithin(stored, waitMs)) return response;
  throw new OutcomePendingError(response.interaction_id, Promise.resolve(response));
}

/**
 * Gives up the key of a call that threw before anything ran (execute reports connector failures, it does not
 * throw them), so the retry the error invites can run. When the store itself is away (the usual reason for that
 * error) the release cannot be written now: it is retried in the background until the store is back — else the
 * key would stay in flight and every retry be refused with 409 IDEMPOTENCY_KEY_IN_FLIGHT for the key's 24 h.
 * The caller's error stands either way.
 */
async function releaseUnrun(store: IdempotencyPort, scope: IdempotencyScope): Promise<void> {
  try {
    await store.release(scope);
  } catch (err) {
    log.warn({ err, key: scope.key, agentId: scope.agent_id }, "idempotency key not released yet: retrying");
    const giveUpAt = Date.now() + RELEASE_RETRY_FOR_MS;
    const retry = () => {
      Promise.resolve()
        .then(() => store.release(scope))
        .catch((again: unknown) => {
          if (Date.now() < giveUpAt) setTimeout(retry, RELEASE_RETRY_MS).unref();
          else log.error({ err: again, key: scope.key }, "idempotency key left in flight: its release kept failing");
        });
    };
    setTimeout(retry, RELEASE_RETRY_MS).unref();
  }
}
