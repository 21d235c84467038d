// An approval that runs out of time is a verdict the audit log must show, like an operator's approve / deny:
// `approval` record, `meta.approval_status: "expired"`, in the interaction that escalated.
import { describe, expect, it } from "vitest";
import { createApprovalStore, EXPIRY_BATCH } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { must } from "../must";
import { openMigratedDatabase } from "../store/test-support";
import { emailRequest, ORG, supportBot } from "../policy/test-fixtures";
import { createGovernanceEngine } from "./engine";

const TTL_MS = 60_000;

async function wired() {
  let clock = Date.parse("2024-12-14T10:30:00Z");
  const now = () => new Date(clock);
  const db = await openMigratedDatabase(":memory:");
  const approvals = createApprovalStore(db, { now, ttlMs: TTL_MS });
  const audit = createAuditLog(db, { now });
  const service = createGovernanceEngine({
    db,
    now,
    approvals,
    audit,
  });
  const tools = supportBot().tools;
  const crmDelete = must(tools["crm:delete"], "the support bot has a crm:delete tool");
  service.manifests.register(
    ORG,
    supportBot({ tools: { ...tools, "crm:delete": { ...crmDelete, redact: ["params.record_id"] } } }),
  );
  return { service, approvals, audit, advance: (ms: number) => (clock += ms) };
}

const del = emailRequest({ action: { type: "crm", tool: "delete", params: { record_id: "rec-123" } } });

describe("approval expiry in the audit log", () => {
  it("a pending approval found expired gets one approval record (expired, no operator), and the chain verifies", async () => {
    const { service, approvals, audit, advance } = await wired();
    const escalated = await service.execute(ORG, del);
    const approvalId = escalated.approval_id!;
    advance(TTL_MS + 1);

    expect(approvals.get(ORG, approvalId)?.status).toBe("expired");
    approvals.get(ORG, approvalId); // found again: no second record
    const records = audit.getInteraction(ORG, escalated.interaction_id);
    expect(records.map((r) => [r.kind, r.decision])).toEqual([
      ["decision", "ESCALATE"],
      ["approval", "DENY"],
    ]);
    expect(records[1]).toMatchObject({
      approval_id: approvalId,
      executed: false,
      action: { type: "crm", tool: "delete", params: { record_id: "[redacted]" } },
      meta: {
        approval_status: "expired",
        decided_by: null,
        reason: expect.stringContaining("no operator decision in time"),
      },
    });
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true });

    // Re-submitting with the expired approval escalates anew instead of executing.
    const retry = await service.execute(ORG, { ...del, approval_id: approvalId });
    expect(retry.executed).toBe(false);
  });

  it("an approved approval that expires unused is recorded after its approval, and is refused at execute", async () => {
    const { service, approvals, audit, advance } = await wired();
    const escalated = await service.execute(ORG, del);
    const approvalId = escalated.approval_id!;
    approvals.approve(ORG, approvalId, { by: "ops@acme.com" });
    advance(TTL_MS + 1);

    // The agent comes back too late: the execute path is where the expiry is discovered.
    const late = await service.execute(ORG, { ...del, approval_id: approvalId });
    expect(late).toMatchObject({ executed: false });
    const approvalRecords = audit.list(ORG, { kind: "approval" }).records.reverse();
    expect(approvalRecords.map((r) => (r.meta as { approval_status: string }).approval_status)).toEqual([
      "approved",
      "expired",
    ]);
    expect(approvalRecords[1]).toMatchObject({
      interaction_id: escalated.interaction_id,
      decision: "DENY",
      meta: { decided_by: null, reason: expect.stringContaining("approved but never used") },
    });
    expect(approvals.get(ORG, approvalId)?.status).toBe("expired");
    expect(audit.list(ORG, { kind: "approval" }).records).toHaveLength(2);
  });

  it("an overdue approval beyond one expiry batch cannot be decided: EXPIRED, and its record says expired", async () => {
    const { service, approvals, audit, advance } = await wired();
    // A full batch of overdue approvals ahead of the target: the org's sweep stops before reaching it.
    for (let i = 0; i < EXPIRY_BATCH; i++)
      approvals.create({
        org_id: ORG,
        uapk_id: "customer-support-bot",
        agent_id: "customer-support-bot",
        action: { type: "email", tool: "send", params: { to: `user${i}@example.com` } },
        reasons: [],
      });
    advance(1); // the target expires last
    const escalated = await service.execute(ORG, del);
    const approvalId = escalated.approval_id!;
    advance(TTL_MS + 1);

    const denied = approvals.deny(ORG, approvalId, { by: "ops@acme.com" });
    expect(denied).toMatchObject({ ok: false, code: "EXPIRED" });
    expect(approvals.approve(ORG, approvalId, { by: "ops@acme.com" })).toMatchObject({ ok: false, code: "EXPIRED" });
    expect(approvals.get(ORG, approvalId)?.status).toBe("expired");
    const records = audit.getInteraction(ORG, escalated.interaction_id);
    expect(records.map((r) => [r.kind, (r.meta as { approval_status?: string }).approval_status])).toEqual([
      ["decision", undefined],
      ["approval", "expired"],
    ]);
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true });
  });
});
