// A cancelled approval (its session was cancelled or abandoned) can never be decided or used afterwards.
import { describe, expect, it } from "vitest";
import { openMigratedDatabase } from "../store/test-support";
import { consumeForExecution, createApprovalStore } from "./approvals";
import { pendingOnChannel } from "./listing";
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

describe("pendingOnChannel (what a restart without Redis cancels)", () => {
  it("lists only pending approvals whose context.channel is exactly the channel, every org", async () => {
    const db = await openMigratedDatabase(":memory:");
    const store = createApprovalStore(db);
    const ask = (org: string, path: string, context: Record<string, unknown> | undefined) =>
      store.create({
        org_id: org,
        ...request,
        action: { ...request.action, params: { path } },
        ...(context === undefined ? { context: undefined } : { context }),
        reasons: [],
      }).approval_id;
    const mine = ask(ORG, "1", { channel: "agent_session", session_id: "s-1" });
    const otherOrg = ask("org-2", "2", { channel: "agent_session", session_id: "s-2" });
    // Look-alikes, other channels, nesting and no context at all are not a session's turn.
    ask(ORG, "3", { channel: "Agent_Session" });
    ask(ORG, "4", { channel: "agent_session " });
    ask(ORG, "5", { channel: "agent\u200bsession" });
    ask(ORG, "6", { channel: "mcp" });
    ask(ORG, "7", { nested: { channel: "agent_session" } });
    ask(ORG, "8", undefined);
    const decided = ask(ORG, "9", { channel: "agent_session" });
    store.approve(ORG, decided, { by: "op" });
    // A row written by hand with a context that is not JSON does not stop the scan.
    db.prepare("UPDATE approvals SET context = '{not json' WHERE approval_id = ?").run(ask(ORG, "10", {}));
    const listed = pendingOnChannel(db, "agent_session");
    expect(listed).toHaveLength(2);
    expect(listed).toEqual(
      expect.arrayContaining([
        { org_id: ORG, approval_id: mine },
        { org_id: "org-2", approval_id: otherOrg },
      ]),
    );
  });
});
