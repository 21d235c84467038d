// The governance engine: ONE place where an agent's action is decided, reserved, run and audited, whichever door
// it came through (REST `faces/actions`, an agent session's tool_call in `faces/sessions`, next MCP). This file
// only composes the modules of this folder on their ports:
//
//   evaluate.ts                dry run of the policy pipeline
//   authorize.ts               decide + write-ahead reservation (lost budget races decided here)
//   outcome.ts                 recordOutcome: audit, refund, remember the counterparties
//   execute.ts                 authorize → connector → recordOutcome
//   idempotent.ts, batch.ts    wrappers over execute
//   approval-audit-listener.ts approval verdicts into the audit chain
//   ports.ts / sqlite-adapters.ts  the store-facing dependencies and their embedded implementation

import { type ConnectorRegistry, createConnectors } from "../connectors";
import type { PublicJwk } from "../keys";
import { createSigningKeyStore } from "../keys";
import { BudgetCounters } from "../policy/budget-counters";
import type { GatewayResourceOrgs } from "../policy/gateway-resources";
import { KnownCounterparties } from "../policy/known-counterparties";
import { ManifestRepository } from "../policy/manifest-repository";
import { decide, type FindApproval } from "../policy/pipeline";
import { CapabilityTokenService } from "../policy/tokens/capability-tokens";
import type { CapabilityTokensService, ManifestsService, MaybePromise } from "../ports";
import { type GroupCommit, groupCommit } from "../store/group-commit";
import type { Db } from "../store/sqlite";
import { listenToApprovalVerdicts } from "./approval-audit-listener";
import { type Authorize, createAuthorize } from "./authorize";
import { type Batch, createBatch } from "./batch";
import { toolRunner } from "./connectors";
import { escalationsInTwoSteps } from "./escalations";
import { createEvaluate, type Evaluate } from "./evaluate";
import { createExecute, type ExecuteOnce } from "./execute";
import { idempotent } from "./idempotent";
import { createRecordOutcome, type RecordOutcome } from "./outcome";
import { boundingBatchParams, boundingParams } from "./params-size";
import type { ApprovalsPort, EscalationStore, GovernanceAudit, IdempotencyPort, ReservationStore } from "./ports";
import { type AuditWriter, auditPortOf, sqliteEscalations, sqliteReservations } from "./sqlite-adapters";

export interface GovernanceEngineDeps {
  db: Db;
  now?: () => Date;
  /** Version reported by gateway health. */
  version?: string;
  /**
   * src/core/connectors `createConnectors({ invokePuruto, secrets })`: runs every tool (echo, noop, http,
   * webhook, puruto). Defaults to a registry without puruto, secrets from process.env.
   */
  connectors?: ConnectorRegistry | undefined;
  /**
   * src/core/approvals `createApprovalStore(db)`: creates approvals on ESCALATE, looked up on re-submission.
   * With `onDecided` and an audit log, every verdict is audited too (operator approve / deny, and expiry).
   */
  approvals?: ApprovalsPort;
  /** src/core/idempotency `createIdempotencyStore(db)`, on `db`: reservations link its claims in their commit. */
  idempotency?: IdempotencyPort;
  /** src/core/audit `createAuditLog(db)`: decision / intent / outcome / approval records. */
  audit?: AuditWriter;
  /** Defaults to group-committed reservations on `db` (budget + approval consumption + intent). */
  reservations?: ReservationStore;
  /** PolicyDeps.resourceOrgs: the orgs the gateway's purutos, secrets and private network belong to. */
  resourceOrgs?: GatewayResourceOrgs | undefined;
  /** How long an answer waits for its records after its call ran (./durable.ts; 30 s unless given). */
  recordWaitMs?: number | undefined;
}

/** What the faces use of an engine, on either backend (this file's SQLite engine, ./shared-engine.ts on PostgreSQL). */
export interface GovernanceEngine {
  manifests: ManifestsService;
  tokens: CapabilityTokensService;
  evaluate: Evaluate;
  /** Decide + reserve one call without running it; report how it ended with `recordOutcome`. */
  authorize: Authorize;
  recordOutcome: RecordOutcome;
  execute: ExecuteOnce;
  batch: Batch;
  health(): MaybePromise<GatewayHealth>;
  /** Capability-token public keys for `/.well-known/jwks.json` (merge with the other key sets). */
  publicJwks(): MaybePromise<{ keys: PublicJwk[] }>;
}

export interface GatewayHealth {
  status: "healthy" | "unhealthy";
  version: string;
  database: "connected" | "disconnected";
  timestamp: string;
}

/** The embedded engine: the port, plus the synchronous SQLite stores tests and tools reach into. */
export type SqliteGovernanceEngine = ReturnType<typeof createGovernanceEngine>;

export function createGovernanceEngine(deps: GovernanceEngineDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const manifests = new ManifestRepository(db, { now });
  const keys = createSigningKeyStore(db, { purpose: "capability-token", now });
  // Issue and revocation are signed into the org's audit chain, in the token's own transaction.
  const log = deps.audit;
  const tokenAudit = log?.appendTokenRecord ? { appendTokenRecord: log.appendTokenRecord.bind(log) } : undefined;
  const tokens = new CapabilityTokenService(db, keys, { now, audit: tokenAudit });
  const budgets = new BudgetCounters(db);
  const counterparties = new KnownCounterparties(db);
  const approvals = deps.approvals;
  const findApproval: FindApproval | undefined = approvals
    ? (orgId, approvalId) => approvals.get(orgId, approvalId)
    : undefined;
  const policyDeps = { manifests, tokens, budgets, counterparties, findApproval, resourceOrgs: deps.resourceOrgs };
  const decideAt = (orgId: string, request: Parameters<typeof decide>[1], at: Date) =>
    decide(orgId, request, policyDeps, { now: at });

  const audit = auditPortOf(deps.audit);
  // Reservations, escalations and the audit log's grouped appends share the database's group commit: the writes
  // of one event-loop turn, one transaction.
  const commits = groupCommit(db);
  const reservations = deps.reservations ?? sqliteReservations(db, budgets, deps.audit, commits);
  const escalations = escalationsOn(commits, approvals, deps.audit, audit);
  if (approvals && audit.recordApprovalVerdict)
    listenToApprovalVerdicts(approvals, manifests, audit.recordApprovalVerdict);

  const authorize = createAuthorize({ now, decide: decideAt, escalations, audit, reservations });
  const recordOutcome = createRecordOutcome({ audit, reservations, counterparties });
  // Every door refuses params too large to judge and audit before anything is decided (./params-size.ts).
  const runTool = toolRunner(deps.connectors ?? createConnectors());
  const { recordWaitMs } = deps;
  const execute = boundingParams(
    idempotent(
      createExecute({ authorize, runTool, recordOutcome, budgets, recordWaitMs }),
      deps.idempotency,
      audit,
      recordWaitMs,
    ),
  );

  function health(): GatewayHealth {
    let database: "connected" | "disconnected" = "connected";
    try {
      db.prepare("SELECT 1").get();
    } catch {
      database = "disconnected";
    }
    return {
      status: database === "connected" ? "healthy" : "unhealthy",
      version: deps.version ?? "0.1.0",
      database,
      timestamp: now().toISOString(),
    };
  }

  return {
    manifests,
    tokens,
    signingKeys: keys,
    budgets,
    evaluate: boundingParams(createEvaluate({ now, decide: decideAt })),
    /** Decide + reserve one call without running it; report how it ended with `recordOutcome`. */
    authorize: boundingParams(authorize),
    recordOutcome,
    execute,
    batch: boundingBatchParams(createBatch(execute)),
    health,
    /** Capability-token public keys for `/.well-known/jwks.json` (merge with the other key sets). */
    publicJwks: () => keys.publicJwks(),
  };
}

/** One commit for the approval and its decision record when both stores are the embedded ones, else two steps. */
function escalationsOn(
  commits: GroupCommit,
  approvals: ApprovalsPort | undefined,
  log: AuditWriter | undefined,
  audit: GovernanceAudit,
): EscalationStore | undefined {
  if (!approvals) return undefined;
  const ask = approvals.ask?.bind(approvals);
  return ask && log ? sqliteEscalations(commits, ask, log) : escalationsInTwoSteps(approvals, audit);
}
