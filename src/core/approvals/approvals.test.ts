import { describe, expect, it } from "vitest";
import { openMigratedDatabase } from "../store/test-support";
import { createAuditLog } from "../audit/audit-log";
import { approvalBindingHash, type ApprovalBinding } from "./binding";
import { consumeForExecution, createApprovalStore } from "./approvals";

const ORG = "org-acme";
const request: ApprovalBinding = {
  uapk_id: "crm-bot",
  agent_id: "crm-bot-1",
  action: { type: "crm", tool: "delete", params: { record_id: "rec-123" } },
  counterparty: { id: "acme-corp", jurisdiction: "DE" },
  context: { amount: 50, currency: "EUR" },
};
const reasons = [{ code: "REQUIRES_APPROVAL", message: "Action 'crm:delete' requires human approval" }];

async function setup(ttlMs = 60_000) {
  let clock = Date.parse("2024-12-14T10:00:00Z");
  const db = await openMigratedDatabase(":memory:");
  const now = () => new Date(clock);
  const store = createApprovalStore(db, { ttlMs, now, pollIntervalMs: 20 });
  return { db, store, now, advance: (ms: number) => (clock += ms) };
}

describe("approvals", () => {
  it("creates a pending approval with an appr- id and an expiry", async () => {
    const { store } = await setup();
    const approval = store.create({ org_id: ORG, ...request, reasons });
    expect(approval).toMatchObject({
      status: "pending",
      org_id: ORG,
      agent_id: "crm-bot-1",
      action: request.action,
      counterparty: request.counterparty,
      reasons,
      created_at: "2024-12-14T10:00:00.000Z",
      expires_at: "2024-12-14T10:01:00.000Z",
    });
    expect(approval.approval_id).toMatch(/^appr-/);
    expect(store.get(ORG, approval.approval_id)).toEqual(approval);
    expect(store.get("org-other", approval.approval_id)).toBeNull();
  });

  it("returns the existing pending approval for an identical request instead of a second one", async () => {
    const { store } = await setup();
    const first = store.create({ org_id: ORG, ...request, reasons });
    const again = store.create({ org_id: ORG, ...request, reasons });
    const otherParams = store.create({
      org_id: ORG,
      ...request,
      action: { ...request.action, params: { record_id: "rec-999" } },
      reasons,
    });
    const otherCounterparty = store.create({ org_id: ORG, ...request, counterparty: { id: "evil-corp" }, reasons });
    expect(again.approval_id).toBe(first.approval_id);
    expect(new Set([first.approval_id, otherParams.approval_id, otherCounterparty.approval_id]).size).toBe(3);
    expect(store.list(ORG, { status: "pending" })).toHaveLength(3);
  });

  it("binds agent, action, counterparty and context, not key order", () => {
    const base = approvalBindingHash(request);
    expect(approvalBindingHash({ ...request, context: { currency: "EUR", amount: 50 } })).toBe(base);
    expect(approvalBindingHash({ ...request, agent_id: "crm-bot-2" })).not.toBe(base);
    expect(approvalBindingHash({ ...request, context: { amount: 5000, currency: "EUR" } })).not.toBe(base);
    expect(approvalBindingHash({ ...request, counterparty: undefined })).not.toBe(base);
  });

  it("approves and denies only pending approvals, recording who and why", async () => {
    const { store } = await setup();
    const a = store.create({ org_id: ORG, ...request, reasons });
    const approved = store.approve(ORG, a.approval_id, { by: "user:alice", reason: "checked with customer" });
    expect(approved).toMatchObject({
      ok: true,
      approval: { status: "approved", decided_by: "user:alice", decision_reason: "checked with customer" },
    });
    expect(store.deny(ORG, a.approval_id, { by: "user:bob" })).toMatchObject({ ok: false, code: "NOT_PENDING" });
    expect(store.approve(ORG, "appr-missing", { by: "user:alice" })).toMatchObject({ ok: false, code: "NOT_FOUND" });
    expect(store.approve("org-other", a.approval_id, { by: "user:alice" })).toMatchObject({
      ok: false,
      code: "NOT_FOUND",
    });

    const b = store.create({
      org_id: ORG,
      ...request,
      action: { ...request.action, params: { record_id: "x" } },
      reasons,
    });
    expect(store.deny(ORG, b.approval_id, { by: "user:bob", reason: "no" })).toMatchObject({
      ok: true,
      approval: { status: "denied" },
    });
  });

  it("expires pending approvals, which can then be neither approved nor consumed", async () => {
    const { db, store, advance, now } = await setup(60_000);
    const a = store.create({ org_id: ORG, ...request, reasons });
    advance(60_001);
    expect(store.get(ORG, a.approval_id)?.status).toBe("expired");
    expect(store.approve(ORG, a.approval_id, { by: "user:alice" })).toMatchObject({ ok: false, code: "EXPIRED" });
    expect(
      consumeForExecution(db, { org_id: ORG, approval_id: a.approval_id, binding: request, now: now() }),
    ).toMatchObject({
      ok: false,
      code: "APPROVAL_EXPIRED",
    });
    // A fresh request for the same action gets a new approval, not the expired one.
    expect(store.create({ org_id: ORG, ...request, reasons }).approval_id).not.toBe(a.approval_id);
  });

  it("an approved approval not used before expiry cannot be consumed", async () => {
    const { db, store, advance, now } = await setup(60_000);
    const a = store.create({ org_id: ORG, ...request, reasons });
    store.approve(ORG, a.approval_id, { by: "user:alice" });
    advance(61_000);
    expect(consumeForExecution(db, { org_id: ORG, approval_id: a.approval_id, binding: request, now: now() }).ok).toBe(
      false,
    );
  });

  it("is consumed exactly once, for exactly the approved request", async () => {
    const { db, store, now } = await setup();
    const a = store.create({ org_id: ORG, ...request, reasons });
    expect(
      consumeForExecution(db, { org_id: ORG, approval_id: a.approval_id, binding: request, now: now() }),
    ).toMatchObject({
      ok: false,
      code: "APPROVAL_PENDING",
    });
    store.approve(ORG, a.approval_id, { by: "user:alice" });

    const otherCounterparty = consumeForExecution(db, {
      org_id: ORG,
      approval_id: a.approval_id,
      binding: { ...request, counterparty: { id: "evil-corp", jurisdiction: "DE" } },
      now: now(),
    });
    expect(otherCounterparty).toMatchObject({ ok: false, code: "APPROVAL_BINDING_MISMATCH" });
    if (!otherCounterparty.ok) expect(otherCounterparty.reason).toMatch(/counterparty differ/);
    const otherParams = consumeForExecution(db, {
      org_id: ORG,
      approval_id: a.approval_id,
      bindingHash: approvalBindingHash({ ...request, action: { ...request.action, params: { record_id: "rec-999" } } }),
      now: now(),
    });
    expect(otherParams).toMatchObject({ ok: false, code: "APPROVAL_BINDING_MISMATCH" });

    const first = consumeForExecution(db, {
      org_id: ORG,
      approval_id: a.approval_id,
      bindingHash: approvalBindingHash(request),
      interaction_id: "int-1",
      now: now(),
    });
    expect(first).toMatchObject({ ok: true, approval: { status: "consumed", consumed_by_interaction_id: "int-1" } });
    const second = consumeForExecution(db, { org_id: ORG, approval_id: a.approval_id, binding: request, now: now() });
    expect(second).toMatchObject({ ok: false, code: "APPROVAL_ALREADY_CONSUMED" });
    expect(
      consumeForExecution(db, { org_id: "org-other", approval_id: a.approval_id, binding: request, now: now() }),
    ).toMatchObject({
      ok: false,
      code: "APPROVAL_NOT_FOUND",
    });
  });

  it("refuses a denied approval with the operator's reason", async () => {
    const { db, store, now } = await setup();
    const a = store.create({ org_id: ORG, ...request, reasons });
    store.deny(ORG, a.approval_id, { by: "user:bob", reason: "customer objected" });
    const result = consumeForExecution(db, { org_id: ORG, approval_id: a.approval_id, binding: request, now: now() });
    expect(result).toMatchObject({ ok: false, code: "APPROVAL_DENIED" });
    if (!result.ok) expect(result.reason).toContain("customer objected");
  });

  it("rolls the consumption back when the caller's transaction fails, with the audit intent", async () => {
    const { db, store, now } = await setup();
    const audit = createAuditLog(db);
    const a = store.create({ org_id: ORG, ...request, reasons });
    store.approve(ORG, a.approval_id, { by: "user:alice" });
    expect(() =>
      db
        .transaction(() => {
          const consumed = consumeForExecution(db, {
            org_id: ORG,
            approval_id: a.approval_id,
            binding: request,
            now: now(),
          });
          expect(consumed.ok).toBe(true);
          audit.appendIntent({
            org_id: ORG,
            interaction_id: "int-1",
            uapk_id: "crm-bot",
            agent_id: "crm-bot-1",
            action: request.action,
            decision: "ALLOW",
            reasons: [],
            policy_trace: null,
            approval_id: a.approval_id,
          });
          throw new Error("crash before commit");
        })
        .immediate(),
    ).toThrow("crash before commit");
    expect(store.get(ORG, a.approval_id)?.status).toBe("approved");
    expect(audit.head(ORG)).toBeNull();
  });

  it("wakes a long-poll waiter on decision, and on expiry", async () => {
    const db = await openMigratedDatabase(":memory:");
    const store = createApprovalStore(db, { ttlMs: 150, pollIntervalMs: 1000 });
    const a = store.create({ org_id: ORG, ...request, reasons });
    const waiting = store.waitForDecision(ORG, a.approval_id, 5_000);
    setTimeout(() => store.approve(ORG, a.approval_id, { by: "user:alice" }), 20);
    const started = Date.now();
    expect((await waiting)?.status).toBe("approved");
    expect(Date.now() - started).toBeLessThan(1000);

    const b = store.create({
      org_id: ORG,
      ...request,
      action: { ...request.action, params: { record_id: "z" } },
      reasons,
    });
    expect((await store.waitForDecision(ORG, b.approval_id, 5_000))?.status).toBe("expired");
  });

  it("returns the pending approval when the long-poll times out, and hides the operator and their note from the agent view", async () => {
    const { store } = await setup();
    const a = store.create({ org_id: ORG, ...request, reasons });
    expect((await store.waitForDecision(ORG, a.approval_id, 30))?.status).toBe("pending");
    store.approve(ORG, a.approval_id, { by: "user:alice", reason: "fine" });
    const view = store.getForAgent(ORG, a.approval_id, "crm-bot-1");
    expect(view).toMatchObject({ status: "approved", action: { type: "crm", tool: "delete" } });
    expect(view).not.toHaveProperty("decided_by");
    expect(view).not.toHaveProperty("decision_reason");
    expect(JSON.stringify(view)).not.toMatch(/alice|fine/);
    expect(store.getForAgent(ORG, a.approval_id, "another-agent")).toBeNull();
  });

  it("sees a decision taken through another connection to the same database (poll)", async () => {
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-appr-"));
    try {
      const file = join(dir, "g.db");
      const node1 = createApprovalStore(await openMigratedDatabase(file), { pollIntervalMs: 25 });
      const node2 = createApprovalStore(await openMigratedDatabase(file));
      const a = node1.create({ org_id: ORG, ...request, reasons });
      const waiting = node1.waitForDecision(ORG, a.approval_id, 3_000);
      setTimeout(() => node2.deny(ORG, a.approval_id, { by: "user:bob" }), 30);
      expect((await waiting)?.status).toBe("denied");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("operator decisions and the audit chain", () => {
  it("onDecided listeners run in the decision's transaction: audited with it, or rolled back with it", async () => {
    const { db, store } = await setup();
    const audit = createAuditLog(db);
    store.onDecided((approval) =>
      audit.appendApprovalDecision({
        org_id: approval.org_id,
        interaction_id: approval.interaction_id ?? approval.approval_id,
        approval_id: approval.approval_id,
        uapk_id: approval.uapk_id,
        agent_id: approval.agent_id,
        action: approval.action,
        reasons: approval.reasons,
        status: approval.status as "approved" | "denied",
        decided_by: approval.decided_by!,
        reason: approval.decision_reason,
        redact: ["params.record_id"],
      }),
    );
    const a = store.create({ org_id: ORG, ...request, reasons, interaction_id: "int-escalated" });
    store.approve(ORG, a.approval_id, { by: "ops@acme.com", reason: "checked" });
    const [record] = audit.getInteraction(ORG, "int-escalated");
    expect(record).toMatchObject({
      kind: "approval",
      approval_id: a.approval_id,
      decision: "ALLOW",
      action: { type: "crm", tool: "delete", params: { record_id: "[redacted]" } },
      meta: { approval_status: "approved", decided_by: "ops@acme.com", reason: "checked" },
    });
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 1 });

    // A decision whose record cannot be written does not happen.
    const b = store.create({
      org_id: ORG,
      ...request,
      action: { ...request.action, params: { record_id: "rec-9" } },
      reasons,
    });
    const stop = store.onDecided(() => {
      throw new Error("audit unavailable");
    });
    expect(() => store.deny(ORG, b.approval_id, { by: "ops@acme.com" })).toThrow("audit unavailable");
    expect(store.get(ORG, b.approval_id)?.status).toBe("pending");
    stop();
    expect(store.deny(ORG, b.approval_id, { by: "ops@acme.com" }).ok).toBe(true);
    expect(audit.list(ORG, { kind: "approval" }).records.map((r) => r.decision)).toEqual(["DENY", "ALLOW"]);
  });

  it("an expiry is a verdict too: listeners hear it once, in the transaction that marks it, or it does not happen", async () => {
    const { db, store, now, advance } = await setup(60_000);
    const heard: [string, string][] = [];
    const a = store.create({ org_id: ORG, ...request, reasons });
    const b = store.create({
      org_id: ORG,
      ...request,
      action: { ...request.action, params: { record_id: "rec-2" } },
      reasons,
    });
    store.approve(ORG, b.approval_id, { by: "ops@acme.com" });
    const stop = store.onDecided((approval) => heard.push([approval.approval_id, approval.status]));
    advance(60_001);

    // A listener that fails (the audit log cannot be written) leaves both approvals as they were.
    const failing = store.onDecided(() => {
      throw new Error("audit unavailable");
    });
    expect(() => store.get(ORG, a.approval_id)).toThrow("audit unavailable");
    failing();
    const statuses = () =>
      db
        .prepare("SELECT status FROM approvals ORDER BY created_at, approval_id")
        .all()
        .map((r) => (r as { status: string }).status);
    expect(statuses().sort()).toEqual(["approved", "pending"]);
    heard.length = 0; // the first listener heard the rolled-back attempt; only what sticks counts below

    // The execute path refuses an overdue approval without marking it, so the expiry is not taken unheard.
    const late = consumeForExecution(db, { org_id: ORG, approval_id: b.approval_id, binding: request, now: now() });
    expect(late).toMatchObject({ ok: false, code: "APPROVAL_EXPIRED" });
    expect(heard).toEqual([]);

    expect(store.get(ORG, b.approval_id)?.status).toBe("expired");
    expect(heard.sort()).toEqual(
      [
        [a.approval_id, "expired"],
        [b.approval_id, "expired"],
      ].sort(),
    );
    store.list(ORG);
    expect(store.expireOverdue()).toBe(0);
    expect(heard).toHaveLength(2);
    stop();
  });
});
