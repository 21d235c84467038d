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

describe("Slack message: what the connector receives", () => {
  const event = (approval: Approval) =>
    JSON.parse(
      renderBody("slack", {
        event_id: "evt-2",
        type: "approval.created",
        created_at: "2026-01-01T00:00:00Z",
        approval,
        wireApproval: {},
        consoleUrl: "https://gatehouse.example/console#/approvals/apr-1",
      }),
    ) as { text: string; blocks: { fields?: { text: string }[] }[] };
  const fieldsOf = (message: ReturnType<typeof event>) =>
    message.blocks.flatMap((b) => b.fields ?? []).map((f) => f.text);

  it("shows the risk picture's total and recipients, not the declared amount", () => {
    // Declared: 90 USD to ann@acme.com; the params send 3 × 90 USD to boss@evil.com.
    const approval = {
      ...hostileApproval(),
      agent_id: "rvh2",
      action: { type: "pay", tool: "send", params: { To: "boss@evil.com", amounts: [90, 90, 90], currency: "USD" } },
      counterparty: "ann@acme.com",
      context: { amount: 90, currency: "USD" },
      risk: {
        amount: 270,
        currency: "USD",
        recipients: ["boss@evil.com", "ann@acme.com"],
        recipients_total: 2,
        recipients_truncated: false,
        reason_codes: ["AMOUNT_THRESHOLD"],
      },
    } as Approval;
    const message = event(approval);
    expect(message.text).toBe("Approval needed: pay:send by rvh2 (270 USD)");
    expect(fieldsOf(message)).toContain("*Amount*\n270 USD");
    expect(fieldsOf(message)).toContain("*Recipients*\nboss@evil.com, ann@acme.com");
  });

  it("falls back to the declared amount on an approval without a risk picture", () => {
    const approval = { ...hostileApproval(), agent_id: "rvh2", action: { type: "pay", tool: "send", params: {} } };
    const message = event({ ...approval, context: { amount: 90, currency: "USD" } } as Approval);
    expect(message.text).toBe("Approval needed: pay:send by rvh2 (90 USD)");
  });
});

describe("Slack message: a risk picture the policy could not complete", () => {
  it("says so above the amount and recipients", () => {
    const approval = {
      ...hostileApproval(),
      risk: {
        recipients: [],
        recipients_total: 0,
        recipients_truncated: false,
        reason_codes: ["REQUIRES_APPROVAL"],
        incomplete: "params have more than 10000 values",
      },
    } as Approval;
    const message = JSON.parse(
      renderBody("slack", {
        event_id: "evt-3",
        type: "approval.created",
        created_at: "2026-01-01T00:00:00Z",
        approval,
        wireApproval: {},
        consoleUrl: "https://gatehouse.example/console#/approvals/apr-1",
      }),
    ) as { blocks: { type: string; text?: { text: string } }[] };
    expect(message.blocks[1]?.text?.text).toBe(
      ":warning: *The params could not be read completely* (params have more than 10000 values): the recipients and amounts shown may be missing some.",
    );
  });
});
