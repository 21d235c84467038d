// How an approval leaves the gateway (approvalRenderer): redacted with the paths in force when it was asked for
// and the tool's current ones, with one manifest read per manifest for a page, its risk picture bounded.
import { describe, expect, it, vi } from "vitest";
import type { Approval } from "../core/approvals";
import type { Manifest } from "../core/policy/types";
import { approvalRenderer } from "./wire-models";

const ORG = "org-acme";

function approval(overrides: Partial<Approval> = {}): Approval {
  return {
    approval_id: "appr-1",
    org_id: ORG,
    uapk_id: "pay-bot",
    agent_id: "pay-bot",
    action: { type: "payment", tool: "send", params: { card: "4111 1111 1111 1111", memo: "rent" } },
    counterparty: null,
    context: null,
    reasons: [{ code: "REQUIRES_APPROVAL", message: "needs a human" }],
    binding_hash: "h",
    status: "pending",
    interaction_id: null,
    created_at: "2026-01-01T00:00:00.000Z",
    expires_at: "2026-01-02T00:00:00.000Z",
    decided_at: null,
    decided_by: null,
    decision_reason: null,
    consumed_at: null,
    consumed_by_interaction_id: null,
    risk: null,
    redact: null,
    ...overrides,
  };
}

/** A manifest whose payment:send tool redacts `redact`. */
function manifestOf(uapkId: string, redact?: string[]): Manifest {
  return {
    uapk_id: uapkId,
    tools: { "payment:send": { connector: { type: "echo" }, ...(redact ? { redact } : {}) } },
  } as unknown as Manifest;
}

describe("approvalRenderer", () => {
  it("keeps an approval redacted after its tool's manifest drops the path", async () => {
    const render = approvalRenderer({ getByUapkId: () => manifestOf("pay-bot") });
    const view = await render(approval({ redact: ["params.card"] }));
    expect(view.action.params).toEqual({ card: "[redacted]", memo: "rent" });
  });

  it("names the person who asked through an IDE session or MCP, never a user a REST caller claims", async () => {
    const render = approvalRenderer({ getByUapkId: () => manifestOf("pay-bot") });
    const ide = await render(
      approval({ context: { channel: "agent_session", on_behalf_of: "dev@acme", session_id: "s" } }),
    );
    expect(ide).toMatchObject({ requested_by: "dev@acme", requested_via: "agent_session" });
    const mcp = await render(approval({ context: { channel: "mcp", on_behalf_of: "ops@acme" } }));
    expect(mcp).toMatchObject({ requested_by: "ops@acme", requested_via: "mcp" });
    for (const context of [{ on_behalf_of: "ceo@acme" }, { channel: "rest", on_behalf_of: "ceo@acme" }, null]) {
      const view = await render(approval({ context }));
      expect(view.requested_by).toBeUndefined();
      expect(view.requested_via).toBeUndefined();
    }
  });

  it("applies a path the manifest added since, to older approvals too", async () => {
    const render = approvalRenderer({ getByUapkId: () => manifestOf("pay-bot", ["params.memo"]) });
    const view = await render(approval({ redact: ["params.card"] }));
    expect(view.action.params).toEqual({ card: "[redacted]", memo: "[redacted]" });
  });

  it("renders a page of 100 approvals with one manifest read per manifest", async () => {
    const getByUapkId = vi.fn(async (_org: string, uapkId: string) => manifestOf(uapkId, ["params.card"]));
    const render = approvalRenderer({ getByUapkId });
    const page = Array.from({ length: 100 }, (_, i) =>
      approval({ approval_id: `appr-${i}`, uapk_id: i % 2 ? "pay-bot" : "refund-bot" }),
    );
    const views = await render.many(page);
    expect(views.map((v) => v.approval_id)).toEqual(page.map((a) => a.approval_id));
    expect(views.every((v) => v.action.params.card === "[redacted]")).toBe(true);
    expect(getByUapkId).toHaveBeenCalledTimes(2);
    // Each page reads afresh: a manifest changed between two pages applies to the next.
    await render.many(page.slice(0, 3));
    expect(getByUapkId).toHaveBeenCalledTimes(4);
  });

  it("bounds a risk picture stored before the bound, and still says how many recipients there are", async () => {
    const recipients = Array.from({ length: 10_000 }, (_, i) => `r${i}@acme.example`);
    const render = approvalRenderer({ getByUapkId: () => undefined });
    const view = await render(approval({ risk: { recipients, reason_codes: ["REQUIRES_APPROVAL"] } }));
    expect(view.risk?.recipients).toEqual(recipients.slice(0, 100));
    expect(view.risk).toMatchObject({ recipients_total: 10_000, recipients_truncated: true });
    expect(JSON.stringify(view).length).toBeLessThan(8 * 1024);
  });
});
