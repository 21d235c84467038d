import { describe, expect, it } from "vitest";
import type { Approval } from "../approvals";
import { renderBody } from "./payloads";

/** An approval whose agent-supplied fields try Slack's mrkdwn: a channel ping and a disguised link. */
function hostileApproval(): Approval {
  return {
    approval_id: "apr-1",
    org_id: "org-1",
    uapk_id: "bot",
    agent_id: "bot<http://evil.example|support>",
    action: { type: "crm<!here>", tool: "delete", params: {} },
    counterparty: null,
    context: { amount: 1, currency: "<!channel>" },
    reasons: [{ code: "REQUIRES_APPROVAL", message: "<http://a.co|ok>" }],
    binding_hash: "h",
    status: "pending",
    interaction_id: null,
    created_at: "2026-01-01T00:00:00Z",
    expires_at: "2026-01-02T00:00:00Z",
    decided_at: null,
    decided_by: null,
    decision_reason: null,
    consumed_at: null,
    consumed_by_interaction_id: null,
  } as Approval;
}

describe("Slack message", () => {
  it("escapes what an agent sent everywhere Slack reads mrkdwn, the notification text included", () => {
    const message = JSON.parse(
      renderBody("slack", {
        event_id: "evt-1",
        type: "approval.created",
        created_at: "2026-01-01T00:00:00Z",
        approval: hostileApproval(),
        wireApproval: {},
        consoleUrl: "https://gatehouse.example/console#/approvals/apr-1",
      }),
    ) as { text: string; blocks: unknown[] };
    expect(message.text).toBe(
      "Approval needed: crm&lt;!here&gt;:delete by bot&lt;http://evil.example|support&gt; (1 &lt;!channel&gt;)",
    );
    // No `<` an agent wrote reaches Slack unescaped, in any block either.
    const texts = JSON.stringify(message);
    for (const raw of ["<!channel>", "<!here>", "<http://evil.example", "<http://a.co"])
      expect(texts).not.toContain(raw);
  });
});
