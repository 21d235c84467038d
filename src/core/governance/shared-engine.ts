// The governance engine on the shared store (PostgreSQL, several nodes): the same modules as ./engine.ts —
// decide, reserve, run, audit — composed on src/core/store/shared instead of the embedded SQLite stores.
// Only the store behind the ports differs; every node running this decides exactly as one node would.
//
// Fail closed: when the database does not answer, a governed call is refused with ActionUnavailableError
// (the REST face answers 503 problem+json), never allowed.

import { type ConnectorRegistry, createConnectors } from "../connectors";
import type { GatewayResourceOrgs } from "../policy/gateway-resources";
import { decide, type PolicyDeps } from "../policy/pipeline";
import type { ApprovalsService } from "../ports";
import type { SharedStores } from "../store/shared";
import { isDatabaseOutage } from "../store/transient-errors";
import { type Authorize, createAuthorize } from "./authorize";
import { createBatch } from "./batch";
import { toolRunner } from "./connectors";
import type { GatewayHealth, GovernanceEngine } from "./engine";
import { escalationsInTwoSteps } from "./escalations";
import { createEvaluate } from "./evaluate";
import { createExecute, type ExecuteOnce } from "./execute";
import { idempotent } from "./idempotent";
import { createRecordOutcome } from "./outcome";
import { boundingBatchParams, boundingParams } from "./params-size";
import type { GovernanceAudit } from "./ports";
import { ActionConflictError, ActionUnavailableError } from "./types";

export interface SharedGovernanceEngineDeps {
  stores: SharedStores;
  /** Readiness of the database (openStore's `ping`). */
  ping: () => Promise<boolean>;
  now?: () => Date;
  connectors?: ConnectorRegistry;
  /** Version reported by gateway health. */
  version?: string;
  /** The approvals service (announces new approvals to every node); defaults to the bare shared store. */
  approvals?: Pick<ApprovalsService, "create" | "get" | "escalate">;
  /** PolicyDeps.resourceOrgs: the orgs the gateway's purutos, secrets and private network belong to. */
  resourceOrgs?: GatewayResourceOrgs | undefined;
  /** How long an answer waits for its records after its call ran (./durable.ts; 30 s unless given). */
  recordWaitMs?: number | undefined;
}

export function createSharedGovernanceEngine(deps: SharedGovernanceEngineDeps) {
  const { stores } = deps;
  const now = deps.now ?? (() => new Date());
  const policyDeps: PolicyDeps = {
    manifests: stores.manifests,
    tokens: stores.capabilityTokens,
    budgets: stores.budgets,
    counterparties: stores.counterparties,
    findApproval: (orgId, approvalId) => stores.approvals.get(orgId, approvalId),
    resourceOrgs: deps.resourceOrgs,
  };
  const decideAt = (orgId: string, request: Parameters<typeof decide>[1], at: Date) =>
    decide(orgId, request, policyDeps, { now: at });
  const audit: GovernanceAudit = {
    recordDecision: async (input) => void (await stores.audit.appendDecisionGrouped(input)),
    recordOutcome: async (input) => void (await stores.audit.appendOutcomeGrouped(input)),
    outcomeRecorded: async (orgId, interactionId) =>
      (await stores.audit.getInteraction(orgId, interactionId)).some((r) => r.kind === "outcome"),
  };
  const { reservations } = stores;
  const approvals = deps.approvals ?? { create: stores.approvals.create, get: stores.approvals.get };
  // The approval and its decision record in one transaction (the service announces the approval once committed).
  const escalate = deps.approvals ? deps.approvals.escalate?.bind(deps.approvals) : stores.escalations;
  const escalations = escalate ? { escalate } : escalationsInTwoSteps(approvals, audit);
  const authorize = failClosed(createAuthorize({ now, decide: decideAt, escalations, audit, reservations }), deps.ping);
  const recordOutcome = createRecordOutcome({ audit, reservations, counterparties: stores.counterparties });
  const runTool = toolRunner(deps.connectors ?? createConnectors());
  // Every door refuses params too large to judge and audit before anything is decided (./params-size.ts).
  const execute = boundingParams(
    failClosed(
      idempotent(
        createExecute({ authorize, runTool, recordOutcome, budgets: stores.budgets, recordWaitMs: deps.recordWaitMs }),
        stores.idempotency,
        audit,
        deps.recordWaitMs,
      ),
      deps.ping,
    ),
  );

  async function health(): Promise<GatewayHealth> {
    const database = (await deps.ping()) ? ("connected" as const) : ("disconnected" as const);
    return {
      status: database === "connected" ? "healthy" : "unhealthy",
      version: deps.version ?? "0.1.0",
      database,
      timestamp: now().toISOString(),
    };
  }

  const engine = {
    manifests: stores.manifests,
    tokens: stores.capabilityTokens,
    approvals: stores.approvals,
    audit: stores.audit,
    evaluate: boundingParams(createEvaluate({ now, decide: decideAt })),
    authorize: boundingParams(authorize),
    recordOutcome,
    execute,
    batch: boundingBatchParams(createBatch(execute)),
    health,
    publicJwks: () => stores.signingKeys.capabilityToken.publicJwks(),
  } satisfies GovernanceEngine & Record<string, unknown>;
  return engine;
}

export type SharedGovernanceEngine = ReturnType<typeof createSharedGovernanceEngine>;

/**
 * A store failure becomes "unavailable" (503) once the database is found not to answer; refusals stay refusals.
 * One wrapper for execute and for the sessions' authorize: a store failure is never an ALLOW.
 */
function failClosed<F extends (...args: never[]) => Promise<unknown>>(call: F, ping: () => Promise<boolean>): F {
  return (async (...args: Parameters<F>) => {
    try {
      return await call(...args);
    } catch (err) {
      if (err instanceof ActionConflictError || err instanceof ActionUnavailableError) throw err;
      if (await isDatabaseOutage(err, ping))
        throw new ActionUnavailableError(
          "The database is unavailable: governed actions are refused",
          "DATABASE_UNAVAILABLE",
        );
      throw err;
    }
  }) as F;
}
