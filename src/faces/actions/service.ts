// The governed-actions service: evaluate, execute and batch on top of the policy pipeline, plus the
// manifests and capability tokens it reads. HTTP-free; handlers.ts maps it to the spec's operations, and the
// sessions face can call `execute` for an agent's tool_call.
//
// Execute, step by step (the order is the point):
//   1. idempotency: a replay returns the first answer; the same key with another body is a conflict.
//   2. decide (pure): the pipeline of src/core/policy.
//   3. DENY / ESCALATE: audit `decision` record (ESCALATE first creates the pending approval).
//   4. ALLOW: ONE transaction consumes the budgets (all-or-nothing), consumes the approval if one was used,
//      and writes the audit `intent` — before the connector runs, so a crash leaves a record, never an
//      unrecorded side effect.
//   5. the connector runs (src/core/connectors, one registry for every tool type); its outcome is audited.
//
// Failed tools and budget: `executed` is true only when the connector ran AND reported success
// (`result.success`). A tool that failed — blocked host, timeout, upstream 5xx, puruto command error, a throw —
// still has its intent and outcome records (`executed: false`, the error in `result`), and its budget unit is
// REFUNDED: the hourly/token budget counts actions that took effect, so an agent retrying a flaky upstream is not
// starved. An approval consumed by a failed execution stays consumed (the operator approved one attempt; a new
// attempt needs a new approval), because whether a failed call had a partial side effect cannot be known.
// A tool whose connector type is not available on this gateway is refused before anything is reserved.
import { randomUUID } from "node:crypto";
import type { ApprovalStore, ConsumeInput, ConsumeResult } from "../../core/approvals";
import type { AuditLog, DecisionInput, OutcomeInput } from "../../core/audit/audit-log";
import type { IdempotencyStore } from "../../core/idempotency";
import { idempotencyRequestHash } from "../../core/idempotency";
import { logger } from "../../core/log/logger";
import { approvalBindingOf } from "../../core/policy/action-hash";
import { BudgetCounters, type BudgetSlot } from "../../core/policy/budget-counters";
import { riskSnapshot } from "../../core/policy/checks/budget";
import { KnownCounterparties } from "../../core/policy/known-counterparties";
import { ManifestRepository } from "../../core/policy/manifest-repository";
import { decide, type FindApproval, type PolicyDecision } from "../../core/policy/pipeline";
import { CapabilityTokenService } from "../../core/policy/tokens/capability-tokens";
import { createSigningKeyStore } from "../../core/keys";
import { capabilityOf, type ActionRequest } from "../../core/policy/types";
import type { Db } from "../../core/store/sqlite";
import type { components } from "../../../generated/api-types";
import { createConnectors, type ConnectorRegistry } from "../../core/connectors";
import { normalizeResult, toolRunner, type ConnectorResult } from "./connectors";

const log = logger.child({ module: "actions" });

export interface ExecuteRequest extends ActionRequest {
  idempotency_key?: string;
}

// The wire shapes are the spec's (generated/api-types.ts); the service builds them directly.
type Schemas = components["schemas"];
/** The spec makes `reasons`/`timestamp` optional for the seed's idempotent example; Gatehouse always sends them. */
export type ExecuteResponse = Schemas["ExecuteResponse"] & Required<Pick<Schemas["ExecuteResponse"], "reasons" | "timestamp">>;
export type EvaluateResponse = Schemas["EvaluateResponse"];
export type BatchRequest = Schemas["BatchRequest"];
export type BatchResultItem = BatchResponse["results"][number];
export type BatchResponse = Schemas["BatchResponse"];

/** A request that conflicts with state (idempotency key with another body, approval used concurrently). */
export class ActionConflictError extends Error {
  constructor(
    message: string,
    readonly code: components["schemas"]["ProblemCode"],
  ) {
    super(message);
    this.name = "ActionConflictError";
  }
}

/** A collaborator this call needs is not wired (fail closed rather than ignore, e.g. an idempotency key). */
export class ActionUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ActionUnavailableError";
  }
}

export interface ActionsServiceDeps {
  db: Db;
  now?: () => Date;
  /** Version reported by gateway health. */
  version?: string;
  /**
   * src/core/connectors `createConnectors({ invokePuruto, secrets })`: runs every tool (echo, noop, http,
   * webhook, puruto). Defaults to a registry without puruto, secrets from process.env.
   */
  connectors?: ConnectorRegistry;
  /**
   * src/core/approvals `createApprovalStore(db)`: creates approvals on ESCALATE, looked up on re-submission.
   * With `onDecided`, every verdict is audited too: operator approve / deny (from REST or a session) and expiry.
   */
  approvals?: Pick<ApprovalStore, "create" | "get"> & Partial<Pick<ApprovalStore, "onDecided">>;
  /** src/core/approvals `consumeForExecution` bound to the db; called inside the execute transaction. */
  consumeApproval?: (input: ConsumeInput) => ConsumeResult;
  /** src/core/idempotency `createIdempotencyStore(db)`. */
  idempotency?: IdempotencyStore;
  /** src/core/audit `createAuditLog(db)`: decision / intent / outcome records. */
  audit?: Pick<AuditLog, "appendIntent" | "appendOutcome" | "appendDecision"> &
    Partial<Pick<AuditLog, "appendApprovalDecision" | "appendOutcomeGrouped" | "appendDecisionGrouped">>;
}

export type ActionsService = ReturnType<typeof createActionsService>;

export function createActionsService(deps: ActionsServiceDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const manifests = new ManifestRepository(db, { now });
  const keys = createSigningKeyStore(db, { purpose: "capability-token", now });
  const tokens = new CapabilityTokenService(db, keys, { now });
  const budgets = new BudgetCounters(db);
  const counterparties = new KnownCounterparties(db);
  const runTool = toolRunner(deps.connectors ?? createConnectors());
  const findApproval: FindApproval | undefined = deps.approvals
    ? (orgId, approvalId) => deps.approvals!.get(orgId, approvalId)
    : undefined;
  const policyDeps = { manifests, tokens, budgets, counterparties, findApproval };
  const reservationCommits = groupCommit(db);

  // Approval verdicts (operator approve / deny, and expiry) join the org's audit chain, in the interaction that
  // escalated, with the tool's redaction applied to the params. Runs inside the approval store's transaction
  // that changes the status (atomic).
  const { audit } = deps;
  if (deps.approvals?.onDecided && audit?.appendApprovalDecision) {
    deps.approvals.onDecided((approval) => {
      if (approval.status !== "approved" && approval.status !== "denied" && approval.status !== "expired") return;
      const expired = approval.status === "expired";
      const capability = capabilityOf(approval.action);
      const redact = manifests.getByUapkId(approval.org_id, approval.uapk_id)?.tools[capability]?.redact;
      audit.appendApprovalDecision!({
        org_id: approval.org_id,
        interaction_id: approval.interaction_id ?? approval.approval_id,
        approval_id: approval.approval_id,
        uapk_id: approval.uapk_id,
        agent_id: approval.agent_id,
        action: approval.action,
        reasons: approval.reasons,
        status: approval.status,
        // Nobody decides an expiry; an approval that had been approved (decided_at set) expired unused.
        decided_by: expired ? null : (approval.decided_by ?? "unknown"),
        reason: expired
          ? `Expired at ${approval.expires_at}: ${approval.decided_at ? "approved but never used" : "no operator decision in time"}`
          : approval.decision_reason,
        redact,
      });
    });
  }

  function baseResponse(interactionId: string, decision: PolicyDecision, at: Date) {
    return {
      interaction_id: interactionId,
      decision: decision.decision,
      reasons: decision.reasons,
      policy_trace: decision.policy_trace,
      ...(decision.risk_snapshot ? { risk_snapshot: decision.risk_snapshot } : {}),
      timestamp: at.toISOString(),
    };
  }

  /** Answers once the record is committed; concurrent decisions share one commit (group commit). */
  async function auditDecision(orgId: string, interactionId: string, request: ActionRequest, d: PolicyDecision, meta: Record<string, unknown>, approvalId?: string) {
    const record = decisionRecord(orgId, interactionId, request, d, meta, approvalId);
    if (deps.audit?.appendDecisionGrouped) await deps.audit.appendDecisionGrouped(record);
    else deps.audit?.appendDecision(record);
  }

  function decisionRecord(orgId: string, interactionId: string, request: ActionRequest, d: PolicyDecision, meta: Record<string, unknown>, approvalId?: string): DecisionInput {
    return {
      org_id: orgId,
      interaction_id: interactionId,
      uapk_id: request.uapk_id,
      agent_id: request.agent_id,
      action: request.action,
      decision: d.decision,
      reasons: d.reasons,
      policy_trace: d.policy_trace,
      approval_id: approvalId ?? null,
      redact: d.manifest?.tools[capabilityOf(request.action)]?.redact,
      meta,
    };
  }

  /**
   * A dry run: the same decision `execute` would reach, with no side effect at all — no budget, no approval,
   * no audit record (a pre-flight is not an action; the decision that counts is audited when it is executed).
   */
  async function evaluate(orgId: string, request: ActionRequest): Promise<EvaluateResponse> {
    const at = now();
    const { decision: d, reasons, policy_trace, risk_snapshot } = await decide(orgId, request, policyDeps, { now: at });
    return {
      would_allow: d === "ALLOW",
      decision: d,
      reasons,
      policy_trace,
      ...(risk_snapshot ? { risk_snapshot } : {}),
      timestamp: at.toISOString(),
    };
  }

  async function executeOnce(orgId: string, request: ExecuteRequest, meta: Record<string, unknown>, signal?: AbortSignal): Promise<ExecuteResponse> {
    const at = now();
    const interactionId = `int-${randomUUID()}`;
    const decision = await decide(orgId, request, policyDeps, { now: at });
    const auditMeta = { ...meta, ...(request.context ? { context: request.context } : {}), ...(request.idempotency_key ? { idempotency_key: request.idempotency_key } : {}) };

    if (decision.decision === "DENY") {
      await auditDecision(orgId, interactionId, request, decision, auditMeta);
      return { ...baseResponse(interactionId, decision, at), executed: false };
    }
    if (decision.decision === "ESCALATE") {
      if (!deps.approvals) throw new ActionUnavailableError("Approvals are not configured on this gateway");
      const approval = deps.approvals.create({
        org_id: orgId,
        ...approvalBindingOf(request),
        reasons: decision.reasons,
        interaction_id: interactionId,
      });
      await auditDecision(orgId, interactionId, request, decision, auditMeta, approval.approval_id);
      return { ...baseResponse(interactionId, decision, at), executed: false, approval_id: approval.approval_id };
    }
    return executeAllowed(orgId, interactionId, request, decision, at, auditMeta, signal);
  }

  async function executeAllowed(
    orgId: string,
    interactionId: string,
    request: ExecuteRequest,
    decision: PolicyDecision,
    at: Date,
    auditMeta: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<ExecuteResponse> {
    const capability = capabilityOf(request.action);
    const tool = decision.manifest!.tools[capability];
    const slots: BudgetSlot[] = decision.budgetSlots;
    const run = runTool(tool, { capability, params: request.action.params, signal });
    if (!run) {
      // Nothing can run this tool here (e.g. `puruto` without the discovery face): refuse before budget,
      // approval or intent are touched, so the approval stays usable once the gateway is configured.
      const result: ConnectorResult = {
        success: false,
        error: `Connector type '${tool.connector.type}' is not available on this gateway`,
        error_code: "CONNECTOR_UNAVAILABLE",
      };
      await auditDecision(orgId, interactionId, request, decision, { ...auditMeta, connector_unavailable: tool.connector.type });
      return { ...baseResponse(interactionId, decision, at), executed: false, result };
    }

    // Budget + approval + intent: all or nothing, before any side effect. Committed (group commit, see
    // reservationCommits) before this call goes on; a refused approval rolls back only this reservation.
    const reserved = await reservationCommits.run(() => {
      const budget = budgets.tryConsume(slots);
      if (!budget.ok) return budget;
      if (decision.approvedBy) {
        if (!deps.consumeApproval) throw new ActionUnavailableError("Approvals are not configured on this gateway");
        const consumed = deps.consumeApproval({
          org_id: orgId,
          approval_id: decision.approvedBy,
          binding: approvalBindingOf(request),
          interaction_id: interactionId,
          now: at,
        });
        if (!consumed.ok) throw new ActionConflictError(consumed.reason, consumed.code);
      }
      deps.audit?.appendIntent({
        org_id: orgId,
        interaction_id: interactionId,
        uapk_id: request.uapk_id,
        agent_id: request.agent_id,
        action: request.action,
        decision: "ALLOW",
        reasons: [],
        policy_trace: decision.policy_trace,
        approval_id: decision.approvedBy ?? null,
        redact: tool.redact,
        meta: auditMeta,
      });
      return budget;
    });

    if (!reserved.ok) {
      // Another execute took the last unit between decide and reserve: same answer as the budget check.
      const { exhausted } = reserved;
      const current = budgets.current(exhausted.scope, exhausted.window);
      const denied: PolicyDecision = {
        ...decision,
        decision: "DENY",
        reasons: [
          {
            code: "BUDGET_EXCEEDED",
            message: `${exhausted.scope.startsWith("hour:") ? "Hourly" : "Token"} action limit exceeded (${current}/${exhausted.limit})`,
          },
        ],
        policy_trace: {
          checks: decision.policy_trace.checks.map((c) =>
            c.check === "budget_check" ? { check: c.check, result: "fail" as const, details: { current, limit: exhausted.limit } } : c,
          ),
        },
      };
      await auditDecision(orgId, interactionId, request, denied, auditMeta);
      return { ...baseResponse(interactionId, denied, at), executed: false };
    }

    let result: ConnectorResult;
    try {
      result = normalizeResult(await run());
    } catch (err) {
      log.warn({ err, capability, interactionId }, "connector threw");
      result = { success: false, error: (err as Error).message, error_code: "CONNECTOR_ERROR" };
    }
    if (!result.success) budgets.refund(slots);
    else if (request.action.counterparty) counterparties.remember(orgId, request.uapk_id, request.action.counterparty, at);
    const outcome: OutcomeInput = {
      org_id: orgId,
      interaction_id: interactionId,
      executed: result.success,
      result,
      redact: tool.redact,
      meta: auditMeta,
    };
    // Answered once the outcome is committed; concurrent executions share that commit (the intent, which must
    // precede the side effect, was committed on its own above).
    if (deps.audit?.appendOutcomeGrouped) await deps.audit.appendOutcomeGrouped(outcome);
    else deps.audit?.appendOutcome(outcome);

    const hourly = decision.manifest!.constraints?.max_actions_per_hour;
    const snapshot =
      hourly !== undefined && slots[0]
        ? riskSnapshot(budgets.current(slots[0].scope, slots[0].window), hourly)
        : undefined;
    return {
      ...baseResponse(interactionId, decision, at),
      ...(snapshot ? { risk_snapshot: snapshot } : {}),
      executed: result.success,
      result,
    };
  }

  async function execute(orgId: string, request: ExecuteRequest, options: { signal?: AbortSignal; meta?: Record<string, unknown> } = {}): Promise<ExecuteResponse> {
    const meta = options.meta ?? {};
    const key = request.idempotency_key;
    if (!key) return executeOnce(orgId, request, meta, options.signal);
    if (!deps.idempotency) throw new ActionUnavailableError("Idempotency keys are not supported: no idempotency store is configured");

    const scope = { org_id: orgId, agent_id: request.agent_id, key };
    const requestHash = idempotencyRequestHash(request as unknown as Record<string, unknown>);
    for (let attempt = 0; attempt < 3; attempt++) {
      const begun = deps.idempotency.begin({ ...scope, requestHash });
      if (begun.state === "replay") return begun.response as unknown as ExecuteResponse;
      if (begun.state === "conflict")
        throw new ActionConflictError(`Idempotency key '${key}' was already used with a different request`, "IDEMPOTENCY_KEY_REUSED");
      if (begun.state === "in_flight") {
        const waited = await begun.wait;
        if (waited.state === "replay") return waited.response as unknown as ExecuteResponse;
        if (waited.state === "unknown")
          throw new ActionConflictError(`A request with idempotency key '${key}' is still in progress`, "IDEMPOTENCY_KEY_IN_FLIGHT");
        continue; // released without an answer: try to claim it again
      }
      try {
        const response = await executeOnce(orgId, request, meta, options.signal);
        deps.idempotency.complete(scope, response as unknown as Record<string, unknown>, 200);
        return response;
      } catch (err) {
        deps.idempotency.release(scope);
        throw err;
      }
    }
    throw new ActionConflictError(`A request with idempotency key '${key}' is still in progress`, "IDEMPOTENCY_KEY_IN_FLIGHT");
  }

  async function batch(orgId: string, request: BatchRequest, options: { signal?: AbortSignal } = {}): Promise<BatchResponse> {
    const batchId = `batch-${randomUUID()}`;
    const results: BatchResultItem[] = [];
    let stopped = false;
    for (const item of request.actions) {
      if (stopped) {
        results.push({ action_id: item.action_id, decision: "SKIPPED", executed: false });
        continue;
      }
      const { action_id, idempotency_key, approval_id, ...action } = item;
      const response = await execute(
        orgId,
        {
          uapk_id: request.uapk_id,
          agent_id: request.agent_id,
          ...(request.capability_token ? { capability_token: request.capability_token } : {}),
          action,
          ...(idempotency_key ? { idempotency_key } : {}),
          ...(approval_id ? { approval_id } : {}),
          ...(request.context ? { context: request.context } : {}),
        },
        { signal: options.signal, meta: { batch_id: batchId, action_id } },
      );
      results.push({
        action_id,
        interaction_id: response.interaction_id,
        decision: response.decision,
        executed: response.executed,
        ...(response.result ? { result: response.result } : {}),
        ...(response.reasons?.length ? { reasons: response.reasons } : {}),
        ...(response.approval_id ? { approval_id: response.approval_id } : {}),
      });
      if (response.decision === "DENY" && request.stop_on_deny) stopped = true;
    }
    const count = (d: BatchResultItem["decision"]) => results.filter((r) => r.decision === d).length;
    return {
      batch_id: batchId,
      results,
      summary: {
        total: results.length,
        allowed: count("ALLOW"),
        denied: count("DENY"),
        escalated: count("ESCALATE"),
        skipped: count("SKIPPED"),
      },
    };
  }

  function health() {
    let database: "connected" | "disconnected" = "connected";
    try {
      db.prepare("SELECT 1").get();
    } catch {
      database = "disconnected";
    }
    return {
      status: database === "connected" ? ("healthy" as const) : ("unhealthy" as const),
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
    evaluate,
    execute,
    batch,
    health,
    /** Capability-token public keys for `/.well-known/jwks.json` (merge with the other key sets). */
    publicJwks: () => keys.publicJwks(),
  };
}

/**
 * Group commit for writes that must be durable before the caller goes on (execute's reservation: budget,
 * approval consumption, intent record). The units of work asked for during one turn of the event loop run in
 * ONE IMMEDIATE transaction, each in its own savepoint (a nested better-sqlite3 transaction): a unit that throws
 * rolls back only its own writes and rejects only its own promise. Every promise settles after the COMMIT, so
 * a caller never proceeds on a reservation that is not on disk; under load one commit (one WAL append and
 * fsync share) serves many requests instead of one each.
 */
export function groupCommit(db: Db) {
  type Unit = { work: () => unknown; resolve: (value: unknown) => void; reject: (err: unknown) => void };
  type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };
  let pending: Unit[] = [];

  const inSavepoint = db.transaction((work: () => unknown) => work());
  const commitAll = db.transaction((units: Unit[]): Settled[] =>
    units.map((unit) => {
      try {
        return { ok: true, value: inSavepoint(unit.work) };
      } catch (error) {
        // SQLite rolled the whole transaction back (e.g. disk full): nothing of the group is committed. Stop
        // rather than run the next units outside any transaction; flush retries each unit on its own.
        if (!db.inTransaction) throw error;
        return { ok: false, error };
      }
    }),
  );

  function flush(): void {
    const units = pending;
    pending = [];
    let settled: Settled[];
    try {
      settled = commitAll.immediate(units);
    } catch {
      // The shared transaction itself failed (e.g. the write lock was not obtained in time): nothing of it was
      // committed, so each unit gets its own transaction and its own verdict.
      for (const unit of units) {
        try {
          unit.resolve(inSavepoint.immediate(unit.work));
        } catch (error) {
          unit.reject(error);
        }
      }
      return;
    }
    settled.forEach((outcome, i) => (outcome.ok ? units[i].resolve(outcome.value) : units[i].reject(outcome.error)));
  }

  return {
    /** Runs `work` in the next group transaction; resolves with its result once that transaction committed. */
    run<T>(work: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const unit: Unit = { work, resolve: resolve as (value: unknown) => void, reject };
        // setImmediate: after the current I/O phase, so every request read in it can join the same commit.
        if (pending.push(unit) === 1) setImmediate(flush);
      });
    },
  };
}
