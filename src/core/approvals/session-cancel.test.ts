// A cancelled approval (its session was cancelled or abandoned) can never be decided or used afterwards.
import { describe, expect, it } from "vitest";
import { openMigratedDatabase } from "../store/test-support";
import { consumeForExecution, createApprovalStore } from "./approvals";
import type { ApprovalBinding } from "./binding";

const ORG = "org-1";
const request: ApprovalBinding = {
  uapk_id: "ide-assistant",
  agent_id: "ide-assistant",
  action: { type: "ide", tool: "write_file", params: { path: "a" } },
  context: { on_behalf_of: "dev", session_id: "s-1" },
};

describe("cancel", () => {
  it("resolves a pending approval as cancelled: no operator decision, no consumption, no reuse", async () => {
    const db = await openMigratedDatabase(":memory:");
    const store = createApprovalStore(db);
    const approval = store.create({ org_id: ORG, ...request, reasons: [] });
    expect(store.cancel(ORG, approval.approval_id, "session abandoned")).toBe(true);
    expect(store.get(ORG, approval.approval_id)).toMatchObject({
      status: "cancelled",
      decision_reason: "session abandoned",
    });
    expect(store.approve(ORG, approval.approval_id, { by: "op" })).toMatchObject({ ok: false, code: "NOT_PENDING" });
    const used = consumeForExecution(db, { org_id: ORG, approval_id: approval.approval_id, binding: request });
    expect(used).toMatchObject({ ok: false, code: "APPROVAL_DENIED" });
    // The identical request asks anew: a fresh pending approval, not the cancelled one.
    expect(store.create({ org_id: ORG, ...request, reasons: [] }).approval_id).not.toBe(approval.approval_id);
  });

  it("also closes an approved approval that was never used, and leaves decided ones alone", async () => {
    const db = await openMigratedDatabase(":memory:");
    const store = createApprovalStore(db);
    const approved = store.create({ org_id: ORG, ...request, reasons: [] });
    store.approve(ORG, approved.approval_id, { by: "op" });
    expect(store.cancel(ORG, approved.approval_id, "gone")).toBe(true);
    const other = store.create({
      org_id: ORG,
      ...request,
      action: { ...request.action, params: { path: "b" } },
      reasons: [],
    });
    store.deny(ORG, other.approval_id, { by: "op" });
    expect(store.cancel(ORG, other.approval_id, "gone")).toBe(false);
    expect(store.get(ORG, other.approval_id)?.status).toBe("denied");
  });
});
