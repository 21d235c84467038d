// The governance engine on the shared store (PostgreSQL, several nodes): the same modules as ./engine.ts —
// decide, reserve, run, audit — composed on src/core/store/shared instead of the embedded SQLite stores.
// Only the store behind the ports differs; every node running this decides exactly as one node would.
//
// Fail closed: when the database does not answer, a governed call is refused with ActionUnavailableError
// (the REST face answers 503 problem+json), never allowed.
import { createConnectors, type ConnectorRegistry } from "../connectors";
import { decide, type PolicyDeps } from "../policy/pipeline";
import type { SharedStores } from "../store/shared";
import { createAuthorize } from "./authorize";
import { createBatch } from "./batch";
import { toolRunner } from "./connectors";
import { createEvaluate } from "./evaluate";
import { createExecute, type ExecuteOnce } from "./execute";
import { idempotent } from "./idempotent";
import { createRecordOutcome } from "./outcome";
import type { GovernanceAudit } from "./ports";
import { ActionConflictError, ActionUnavailableError } from "./types";

export interface SharedGovernanceEngineDeps {
  stores: SharedStores;
  /** Readiness of the database (openStore's `ping`). */
  ping: () => Promise<boolean>;
  now?: () => Date;
  connectors?: ConnectorRegistry;
}

/** Capability tokens are not on the shared store yet: a presented token is refused (fail closed), never ignored. */
const tokensNotShared: PolicyDeps["tokens"] = {
  verify: async () => ({
    ok: false,
    code: "INVALID_TOKEN",
    message: "Capability tokens are not supported on the PostgreSQL backend yet",
  }),
};

export function createSharedGovernanceEngine(deps: SharedGovernanceEngineDeps) {
  const { stores } = deps;
  const now = deps.now ?? (() => new Date());
  const policyDeps: PolicyDeps = {
    manifests: stores.manifests,
    tokens: tokensNotShared,
    budgets: stores.budgets,
    counterparties: stores.counterparties,
    findApproval: (orgId, approvalId) => stores.approvals.get(orgId, approvalId),
  };
  const decideAt = (orgId: string, request: Parameters<typeof decide>[1], at: Date) =>
    decide(orgId, request, policyDeps, { now: at });
  const audit: GovernanceAudit = {
    recordDecision: async (input) => void (await stores.audit.appendDecision(input)),
    recordOutcome: async (input) => void (await stores.audit.appendOutcome(input)),
  };
  const { reservations } = stores;
  const approvals = { create: stores.approvals.create, get: stores.approvals.get };
  const authorize = createAuthorize({ now, decide: decideAt, approvals, audit, reservations });
  const recordOutcome = createRecordOutcome({ audit, reservations, counterparties: stores.counterparties });
  const runTool = toolRunner(deps.connectors ?? createConnectors());
  const execute = failClosed(
    idempotent(createExecute({ authorize, runTool, recordOutcome, budgets: stores.budgets }), stores.idempotency),
    deps.ping,
  );

  async function health() {
    const database = (await deps.ping()) ? ("connected" as const) : ("disconnected" as const);
    return { status: database === "connected" ? "healthy" : "unhealthy", database, timestamp: now().toISOString() };
  }

  return {
    manifests: stores.manifests,
    approvals: stores.approvals,
    audit: stores.audit,
    evaluate: createEvaluate({ now, decide: decideAt }),
    authorize,
    recordOutcome,
    execute,
    batch: createBatch(execute),
    health,
  };
}

export type SharedGovernanceEngine = ReturnType<typeof createSharedGovernanceEngine>;

/** A store failure becomes "unavailable" (503) once the database is found not to answer; refusals stay refusals. */
function failClosed(execute: ExecuteOnce, ping: () => Promise<boolean>): ExecuteOnce {
  return async (orgId, request, options) => {
    try {
      return await execute(orgId, request, options);
    } catch (err) {
      if (err instanceof ActionConflictError || err instanceof ActionUnavailableError) throw err;
      if (!(await ping()))
        throw new ActionUnavailableError("The database is unavailable: governed actions are refused");
      throw err;
    }
  };
}
