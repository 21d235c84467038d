import { describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { createMemoryEventBus } from "../events";
import { createIdempotencyStore } from "../idempotency";
import { must } from "../must";
import { openMigratedDatabase } from "../store/test-support";
import { emailRequest, ORG, supportBot } from "../policy/test-fixtures";
import { createGovernanceEngine } from "./engine";
import { BudgetCounters } from "../policy/budget-counters";
import { sqliteReservations } from "./sqlite-adapters";
import { onlyTheUnkeyedCallRan, pausedBeforeReservation } from "./test-support";
import { ActionConflictError } from "./types";
import type { ConnectorRegistry } from "../connectors";

async function wired(options: { connectors?: ConnectorRegistry; maxPerHour?: number } = {}) {
  const db = await openMigratedDatabase(":memory:");
  const now = () => new Date("2024-12-14T10:30:00Z");
  const approvals = createApprovalStore(db, { now });
  const audit = createAuditLog(db, { now });
  const service = createGovernanceEngine({
    db,
    now,
    connectors: options.connectors,
    approvals,
    idempotency: createIdempotencyStore(db, { now }),
    audit,
  });
  service.manifests.register(
    ORG,
    supportBot({
      constraints: { max_actions_per_hour: options.maxPerHour ?? 100, require_human_approval: ["crm:delete"] },
    }),
  );
  return { db, service, approvals, audit };
}

describe("execute", () => {
  it("ALLOW runs the echo connector, consumes one unit of budget and writes intent then outcome", async () => {
    const { service, audit } = await wired();
    const r = await service.execute(ORG, emailRequest());
    expect(r).toMatchObject({ decision: "ALLOW", executed: true, reasons: [], result: { success: true } });
    // The core echo connector: the params back, plus a message id (seed 003's `result.message_id`).
    expect(r.result?.data).toMatchObject({ to: "customer@example.com", message_id: expect.stringMatching(/^msg-/) });
    expect(r.risk_snapshot).toEqual({ budget_current: 1, budget_limit: 100, budget_percent: 1 });
    expect(audit.getInteraction(ORG, r.interaction_id).map((x) => x.kind)).toEqual(["intent", "outcome"]);
    expect((await audit.verifyChain(ORG)).valid).toBe(true);
  });

  it("denies the action after the hourly budget, never over-spending under concurrency", async () => {
    const { service } = await wired({ maxPerHour: 3 });
    const results = await Promise.all(Array.from({ length: 8 }, () => service.execute(ORG, emailRequest())));
    expect(results.filter((r) => r.executed)).toHaveLength(3);
    const denied = results.filter((r) => r.decision === "DENY");
    expect(denied).toHaveLength(5);
    expect(denied[0]?.reasons[0]).toEqual({ code: "BUDGET_EXCEEDED", message: "Hourly action limit exceeded (3/3)" });
    // The losers were decided by the pipeline itself: its budget check failed, and the checks after it never ran.
    for (const d of denied) {
      const checks = d.policy_trace?.checks ?? [];
      expect(checks.at(-1)).toEqual({ check: "budget_check", result: "fail", details: { current: 3, limit: 3 } });
    }
  });

  it("a lost budget race is decided again by the pipeline: a unit freed meanwhile lets the call run", async () => {
    // A reservation store that loses the first race (as if another call had just taken the last unit and then
    // given it back): the engine must re-decide on the budgets as they are, not answer DENY by itself.
    const db = await openMigratedDatabase(":memory:");
    const audit = createAuditLog(db);
    let lost = 0;
    const inner = createGovernanceEngine({ db, audit });
    const sqlite = sqliteReservations(db, inner.budgets, audit);
    const engine = createGovernanceEngine({
      db,
      audit,
      reservations: {
        reserve: async (r) =>
          lost++ === 0 ? { ok: false, exhausted: must(r.slots[0], "the bot has an hourly budget") } : sqlite.reserve(r),
        refund: sqlite.refund,
      },
    });
    engine.manifests.register(ORG, supportBot({ constraints: { max_actions_per_hour: 1 } }));
    const r = await engine.execute(ORG, emailRequest());
    expect(lost).toBe(2);
    expect(r).toMatchObject({ decision: "ALLOW", executed: true });
    expect(audit.getInteraction(ORG, r.interaction_id).map((x) => x.kind)).toEqual(["intent", "outcome"]);
  });

  /** The support bot whose email:send is a webhook (its connector is the test's stand-in). */
  const webhookBot = () =>
    supportBot({
      tools: {
        ...supportBot().tools,
        "email:send": {
          connector: { type: "webhook", url: "https://hooks.example/x", allowed_hosts: ["hooks.example"] },
        },
      },
    });

  it("a call that may have reached the tool (a timeout) is not 'executed' and keeps its budget unit spent", async () => {
    const { service } = await wired({
      connectors: () => async () => ({ success: false, error: { code: "TIMEOUT", message: "upstream timed out" } }),
    });
    service.manifests.upsert(ORG, webhookBot());
    const r = await service.execute(ORG, emailRequest());
    expect(r).toMatchObject({
      decision: "ALLOW",
      executed: false,
      result: { success: false, error: "upstream timed out", error_code: "TIMEOUT" },
    });
    // An upstream that acts and answers late must not carry more actions than the budget allows.
    expect(r.risk_snapshot?.budget_current).toBe(1);
  });

  it("a connector answer nested too deep to serialise still ran: its success stands, its outcome is recorded", async () => {
    let deep: unknown = "bottom";
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const { service, audit } = await wired({ connectors: () => async () => ({ success: true, data: { deep } }) });
    service.manifests.upsert(ORG, webhookBot());
    const r = await service.execute(ORG, emailRequest());
    expect(r).toMatchObject({
      decision: "ALLOW",
      executed: true,
      result: { success: true, data: { unrepresentable_result: "the result nests deeper than 64 levels" } },
    });
    expect(() => JSON.stringify(r)).not.toThrow();
    const kinds = audit.getInteraction(ORG, r.interaction_id!).map((record) => record.kind);
    expect(kinds).toEqual(["intent", "outcome"]);
  });

  it("a call refused before anything reached the tool gives its budget unit back", async () => {
    const { service } = await wired({
      connectors: () => async () => ({
        success: false,
        error: { code: "HOST_NOT_ALLOWED", message: "Host hooks.example is not in this tool's allowed_hosts" },
      }),
    });
    service.manifests.upsert(ORG, webhookBot());
    const r = await service.execute(ORG, emailRequest());
    expect(r).toMatchObject({ decision: "ALLOW", executed: false, result: { error_code: "HOST_NOT_ALLOWED" } });
    expect(r.risk_snapshot?.budget_current).toBe(0);
  });

  it("ESCALATE creates an approval; once approved the same action executes exactly once", async () => {
    const { service, approvals } = await wired();
    const del = emailRequest({ action: { type: "crm", tool: "delete", params: { record_id: "rec-123" } } });
    const first = await service.execute(ORG, del);
    expect(first).toMatchObject({
      decision: "ESCALATE",
      executed: false,
      reasons: [{ code: "REQUIRES_APPROVAL", message: "Action 'crm:delete' requires human approval" }],
    });
    const approvalId = first.approval_id!;
    expect((await service.execute(ORG, { ...del, approval_id: approvalId })).decision).toBe("ESCALATE"); // still pending
    approvals.approve(ORG, approvalId, { by: "ops@acme.com" });
    const other = await service.execute(ORG, {
      ...del,
      action: { ...del.action, params: { record_id: "rec-999" } },
      approval_id: approvalId,
    });
    expect(other.decision).toBe("ESCALATE");
    const second = await service.execute(ORG, { ...del, approval_id: approvalId });
    expect(second).toMatchObject({ decision: "ALLOW", executed: true });
    expect(approvals.get(ORG, approvalId)?.status).toBe("consumed");
    expect((await service.execute(ORG, { ...del, approval_id: approvalId })).decision).toBe("ESCALATE");
  });

  it("idempotency: a duplicate returns the first answer without executing again; another body is a conflict", async () => {
    let calls = 0;
    const counting: ConnectorRegistry = () => async () => ({ success: true, data: { n: ++calls } });
    const s2 = await wired({ connectors: counting });
    s2.service.manifests.upsert(
      ORG,
      supportBot({
        tools: {
          ...supportBot().tools,
          "email:send": {
            connector: { type: "http", url: "https://api.example/send", allowed_hosts: ["api.example"] },
          },
        },
      }),
    );
    const req = emailRequest({ idempotency_key: "order-confirmation-12345" } as never);
    const [a, b] = await Promise.all([s2.service.execute(ORG, req), s2.service.execute(ORG, req)]);
    const c = await s2.service.execute(ORG, req);
    expect(calls).toBe(1);
    expect([a, b, c].filter((r) => r.idempotent)).toHaveLength(2);
    expect(c).toMatchObject({ interaction_id: a.interaction_id, idempotent: true, original_timestamp: a.timestamp });
    await expect(
      s2.service.execute(ORG, { ...req, action: { ...req.action, params: { to: "x@example.com" } } }),
    ).rejects.toBeInstanceOf(ActionConflictError);
  });
});

describe("ESCALATE: the approval and its decision record in one commit", () => {
  const deleteOf = (record_id: string) =>
    emailRequest({ action: { type: "crm", tool: "delete", params: { record_id } } });

  async function escalating(options: { failDecisions?: boolean } = {}) {
    const db = await openMigratedDatabase(":memory:");
    const events = createMemoryEventBus();
    const announced: string[] = [];
    events.subscribe("approval.created", (event) => void announced.push(event.approval_id));
    const approvals = createApprovalStore(db, { events });
    const log = createAuditLog(db);
    const audit = options.failDecisions
      ? {
          ...log,
          appendDecision: () => {
            throw new Error("audit append failed");
          },
        }
      : log;
    const engine = createGovernanceEngine({ db, approvals, audit });
    engine.manifests.register(ORG, supportBot({ constraints: { require_human_approval: ["crm:delete"] } }));
    return { engine, approvals, log, announced };
  }

  it("concurrent escalations each get their approval and a decision record naming it; each is announced", async () => {
    const { engine, approvals, log, announced } = await escalating();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => engine.execute(ORG, deleteOf(`rec-${i}`))));
    const ids = answers.map((a) => must(a.approval_id, "an ESCALATE answer names its approval"));
    expect(new Set(ids).size).toBe(20);
    for (const answer of answers) {
      const records = log.getInteraction(ORG, answer.interaction_id);
      expect(records.map((r) => [r.kind, r.decision, r.approval_id])).toEqual([
        ["decision", "ESCALATE", answer.approval_id],
      ]);
    }
    expect(
      approvals
        .list(ORG)
        .map((a) => a.approval_id)
        .sort(),
    ).toEqual([...ids].sort());
    await new Promise((ok) => setImmediate(ok)); // the memory bus delivers on a microtask
    expect(announced.sort()).toEqual([...ids].sort());
    expect((await log.verifyChain(ORG)).valid).toBe(true);
  });

  it("a decision record that cannot be written leaves no approval for an operator, and announces none", async () => {
    const { engine, approvals, announced } = await escalating({ failDecisions: true });
    await expect(engine.execute(ORG, deleteOf("rec-1"))).rejects.toThrow("audit append failed");
    await new Promise((ok) => setImmediate(ok));
    expect(approvals.list(ORG)).toEqual([]);
    expect(announced).toEqual([]);
  });
});

describe("execute: reservations committed together", () => {
  it("a refused approval in a shared commit rolls back only its own reservation", async () => {
    const { service, approvals, audit } = await wired();
    const del = emailRequest({ action: { type: "crm", tool: "delete", params: { record_id: "rec-123" } } });
    const approvalId = (await service.execute(ORG, del)).approval_id!;
    approvals.approve(ORG, approvalId, { by: "ops@acme.com" });
    // Same turn: both re-submissions pass the policy (the approval is approved) and reserve together; only
    // one can consume the approval.
    const settled = await Promise.allSettled([
      service.execute(ORG, { ...del, approval_id: approvalId }),
      service.execute(ORG, { ...del, approval_id: approvalId }),
      service.execute(ORG, emailRequest()),
    ]);
    const executed = settled.filter((s) => s.status === "fulfilled" && s.value.executed);
    expect(executed).toHaveLength(2);
    // The loser lost the spend in the shared commit: decided again, it finds the approval used (ESCALATE).
    const lost = settled.filter((s) => s.status !== "fulfilled" || !s.value.executed);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ status: "fulfilled", value: { decision: "ESCALATE", executed: false } });
    // Two units taken (the approved delete and the email): the refused one's unit was rolled back.
    const next = await service.execute(ORG, emailRequest());
    expect(next.risk_snapshot?.budget_current).toBe(3);
    expect(audit.list(ORG, { kind: "intent" }).records).toHaveLength(3);
    expect((await audit.verifyChain(ORG)).valid).toBe(true);
  });
});

describe("execute: an idempotency claim taken over between the claim and the reservation", () => {
  // The claim's link used to be its own commit, written before the reservation: a process stopped in between
  // (SIGKILL) left a linked claim with no intent, and the retry of a call that never ran got 409 OUTCOME_UNKNOWN
  // naming an interaction the audit log does not hold. The link is now written in the reservation's commit.
  it("the retry takes over and runs the call; the old owner, when it wakes, writes nothing and runs nothing", async () => {
    const db = await openMigratedDatabase(":memory:");
    const audit = createAuditLog(db);
    let runs = 0;
    const connectors: ConnectorRegistry = () => async () => ({ success: true, data: { run: ++runs } });
    const paused = pausedBeforeReservation(sqliteReservations(db, new BudgetCounters(db), audit));
    // The owner that stops: its lease is short and never renewed. The retrying owner: another store, same table.
    const stopping = createIdempotencyStore(db, { leaseMs: 50, renewEveryMs: 600_000 });
    const dying = createGovernanceEngine({ db, audit, connectors, idempotency: stopping, reservations: paused.store });
    const retrying = createGovernanceEngine({ db, audit, connectors, idempotency: createIdempotencyStore(db) });
    dying.manifests.register(ORG, supportBot());
    const keyed = emailRequest({ idempotency_key: "send-once" } as never);

    // Both of the stopping owner's calls wait at the gate: the keyed one (claimed) and one without a key.
    const late = Promise.allSettled([dying.execute(ORG, keyed), dying.execute(ORG, emailRequest())]);
    await vi.waitFor(() => expect(paused.waiting).toBe(2));
    await new Promise((resolve) => setTimeout(resolve, 100)); // its lease runs out

    const retried = await retrying.execute(ORG, keyed);
    expect(retried).toMatchObject({ decision: "ALLOW", executed: true });
    expect(retried.idempotent).toBeUndefined();

    // It wakes, in one group commit: the keyed call's reservation writes nothing and it does not run; the other
    // call of the same commit is reserved and runs.
    paused.release();
    const otherId = await onlyTheUnkeyedCallRan(late);
    expect(runs).toBe(2);
    const intents = audit.list(ORG, { kind: "intent" }).records.map((r) => r.interaction_id);
    expect(intents.sort()).toEqual([retried.interaction_id, otherId].sort());
    expect((await retrying.execute(ORG, keyed)).interaction_id).toBe(retried.interaction_id); // the replay
    // Two units taken: the refused reservation's was rolled back with it.
    expect((await retrying.execute(ORG, emailRequest())).risk_snapshot?.budget_current).toBe(3);
    expect((await audit.verifyChain(ORG)).valid).toBe(true);
  });
});

describe("evaluate", () => {
  it("never changes state: budgets, approvals and known counterparties are untouched", async () => {
    const { service, db } = await wired({ maxPerHour: 5 });
    const snapshot = () =>
      JSON.stringify([
        db.prepare("SELECT * FROM action_budget_counters").all(),
        db.prepare("SELECT * FROM approvals").all(),
        db.prepare("SELECT * FROM known_counterparties").all(),
      ]);
    await service.execute(ORG, emailRequest());
    const before = snapshot();
    const actionArb = fc.record(
      {
        type: fc.constantFrom("email", "crm", "sms"),
        tool: fc.constantFrom("send", "read", "update", "delete", "drop"),
        params: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
        counterparty: fc.emailAddress(),
      },
      { requiredKeys: ["type", "tool", "params"] }, // counterparty present or absent
    );
    await fc.assert(
      fc.asyncProperty(actionArb, async (action) => {
        const r = await service.evaluate(ORG, emailRequest({ action }));
        expect(r.would_allow).toBe(r.decision === "ALLOW");
        expect(snapshot()).toBe(before);
      }),
      { numRuns: 50 },
    );
  });
});

describe("batch", () => {
  it("runs each action through the pipeline and stops after a DENY when asked", async () => {
    const { service } = await wired();
    const r = await service.batch(ORG, {
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      actions: [
        { action_id: "a1", type: "email", tool: "send", params: { to: "user1@example.com", subject: "Hello" } },
        { action_id: "a2", type: "crm", tool: "purge", params: {} },
        { action_id: "a3", type: "crm", tool: "update", params: { record_id: "rec-123" } },
      ],
      stop_on_deny: true,
    });
    expect(r.results.map((x) => [x.action_id, x.decision])).toEqual([
      ["a1", "ALLOW"],
      ["a2", "DENY"],
      ["a3", "SKIPPED"],
    ]);
    expect(r.summary).toEqual({ total: 3, allowed: 1, denied: 1, escalated: 0, skipped: 1 });
    expect(r.results[1]?.reasons?.[0]?.code).toBe("TOOL_NOT_AUTHORIZED");
  });
});

describe("batch: what earlier actions recorded is never hidden by a later error", () => {
  const batchOf = (actions: unknown[]) =>
    ({ uapk_id: "customer-support-bot", agent_id: "customer-support-bot", actions }) as never;
  const del = { action_id: "a1", type: "crm", tool: "delete", params: { record_id: "rec-123" } };

  it("an ESCALATE then a reused idempotency key: the approval_id is answered, the failing action SKIPPED", async () => {
    const { service, approvals } = await wired();
    await service.execute(ORG, emailRequest({ idempotency_key: "k1" } as never));
    const sendOther = { action_id: "a2", type: "email", tool: "send", params: { to: "x@example.com" } };
    const r = await service.batch(
      ORG,
      batchOf([del, { ...sendOther, idempotency_key: "k1" }, { ...sendOther, action_id: "a3" }]),
    );
    const approvalId = must(r.results[0]?.approval_id, "the ESCALATE's approval is answered");
    expect(approvals.get(ORG, approvalId)?.status).toBe("pending");
    expect(r.results.map((x) => [x.action_id, x.decision, x.executed, x.result?.error_code])).toEqual([
      ["a1", "ESCALATE", false, undefined],
      ["a2", "SKIPPED", false, "IDEMPOTENCY_KEY_REUSED"],
      ["a3", "SKIPPED", false, undefined],
    ]);
    expect(r.summary).toEqual({ total: 3, allowed: 0, denied: 0, escalated: 1, skipped: 2 });
  });

  it("a DENY (recorded in the audit chain) then an error: the DENY is answered", async () => {
    const { service, audit } = await wired();
    await service.execute(ORG, emailRequest({ idempotency_key: "k1" } as never));
    const purge = { action_id: "a1", type: "crm", tool: "purge", params: {} };
    const reused = {
      action_id: "a2",
      type: "email",
      tool: "send",
      params: { to: "x@example.com" },
      idempotency_key: "k1",
    };
    const r = await service.batch(ORG, batchOf([purge, reused]));
    expect(r.results.map((x) => x.decision)).toEqual(["DENY", "SKIPPED"]);
    const denied = must(r.results[0]?.interaction_id, "the DENY's interaction");
    expect(audit.getInteraction(ORG, denied).map((x) => x.kind)).toEqual(["decision"]);
  });

  it("the first action failing is still the batch's answer (nothing recorded)", async () => {
    const { service } = await wired();
    await service.execute(ORG, emailRequest({ idempotency_key: "k1" } as never));
    const reused = {
      action_id: "a1",
      type: "email",
      tool: "send",
      params: { to: "x@example.com" },
      idempotency_key: "k1",
    };
    await expect(service.batch(ORG, batchOf([reused, del]))).rejects.toBeInstanceOf(ActionConflictError);
  });

  it("a replayed item says so: its ALLOW and executed are the first request's", async () => {
    const { service } = await wired();
    const first = await service.execute(ORG, emailRequest({ idempotency_key: "k1" } as never));
    const again = { action_id: "a1", ...emailRequest().action, idempotency_key: "k1" };
    const r = await service.batch(ORG, batchOf([again]));
    expect(r.results[0]).toMatchObject({
      interaction_id: first.interaction_id,
      decision: "ALLOW",
      executed: true,
      idempotent: true,
    });
    expect(r.summary).toMatchObject({ allowed: 1 });
  });
});

describe("puruto tools through the discovery face's invoker", () => {
  it("passes name, command and params; a command error becomes a failed tool with its code", async () => {
    const { purutoInvokerFrom } = await import("./connectors");
    const seen: unknown[] = [];
    const invoke = purutoInvokerFrom({
      invoke: async (request) => {
        seen.push({ name: request.name, command: request.command, payload: request.payload });
        return request.payload?.account === "nope"
          ? { invocation: { status: "error", error: { code: "COMMAND_FAILED", message: "exit 2" } } }
          : { invocation: { status: "ok", result: { total: 10 } } };
      },
    });
    expect(await invoke("puruto-financial", "balance", { account: "main" })).toEqual({ total: 10 });
    expect(seen).toEqual([{ name: "puruto-financial", command: "balance", payload: { account: "main" } }]);
    await expect(invoke("puruto-financial", "balance", { account: "nope" })).rejects.toMatchObject({
      code: "COMMAND_FAILED",
      message: "exit 2",
    });
  });

  it("a tool whose connector type is not available is refused before budget, approval or intent", async () => {
    const { service, audit, db } = await wired({ connectors: () => undefined });
    const r = await service.execute(ORG, emailRequest());
    expect(r).toMatchObject({
      decision: "ALLOW",
      executed: false,
      result: { success: false, error_code: "CONNECTOR_UNAVAILABLE" },
    });
    expect(db.prepare("SELECT COALESCE(SUM(count), 0) AS spent FROM action_budget_counters").get()).toEqual({
      spent: 0,
    });
    expect(audit.getInteraction(ORG, r.interaction_id).map((x) => x.kind)).toEqual(["decision"]);
  });
});
