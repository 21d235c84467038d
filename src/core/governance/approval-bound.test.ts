// Adversarial (issue 10 §6): an agent that escalates calls with huge arguments does not make every approval
// row, list and feed carry them. The approval stores each large argument as its hash, size and a preview (like
// the audit log); the binding hash still covers the full request, so only the exact arguments that were
// approved can run under it.
import { describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { MAX_STORED_VALUE_BYTES } from "../audit/bound";
import { emailRequest, ORG } from "../policy/test-fixtures";
import { supportBot } from "../policy/test-fixtures";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";

async function wired() {
  const db = await openMigratedDatabase(":memory:");
  const approvals = createApprovalStore(db, { expirySweepMs: 0 });
  const audit = createAuditLog(db);
  const service = createGovernanceEngine({ db, approvals, audit });
  service.manifests.register(ORG, supportBot());
  return { db, service, approvals };
}

const hugeNote = "n".repeat(900 * 1024);
const request = emailRequest({
  action: { type: "crm", tool: "delete", params: { record_id: "rec-123", note: hugeNote } },
});

describe("approvals keep large arguments as hash + preview", () => {
  it("the stored approval is small and says what it summarised; the full request still runs under it", async () => {
    const { db, service, approvals } = await wired();
    const escalated = await service.execute(ORG, request);
    expect(escalated.executed).toBe(false);
    const approvalId = escalated.approval_id!;

    const row = db
      .prepare<[string], { action: string }>("SELECT action FROM approvals WHERE approval_id = ?")
      .get(approvalId)!;
    expect(row.action.length).toBeLessThan(4 * MAX_STORED_VALUE_BYTES);
    const stored = approvals.get(ORG, approvalId)!;
    expect(stored.action.params).toMatchObject({
      record_id: "rec-123",
      note: { truncated: true, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), bytes: hugeNote.length + 2 },
    });

    approvals.approve(ORG, approvalId, { by: "ops@acme.com" });
    // Other arguments (the preview itself, a different note) cannot use the approval.
    const forged = await service.execute(ORG, {
      ...request,
      approval_id: approvalId,
      action: { ...request.action, params: stored.action.params as Record<string, unknown> },
    });
    expect(forged.executed).toBe(false);
    const other = await service.execute(ORG, {
      ...request,
      approval_id: approvalId,
      action: { ...request.action, params: { record_id: "rec-123", note: `${hugeNote}x` } },
    });
    expect(other.executed).toBe(false);
    // The exact arguments that were approved run.
    const approved = await service.execute(ORG, { ...request, approval_id: approvalId });
    expect(approved.executed).toBe(true);
  });
});
