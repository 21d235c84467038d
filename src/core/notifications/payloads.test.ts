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

describe("Slack message: what the operator approves (params and requester)", () => {
  type Block = { type: string; text?: { text: string }; fields?: { text: string }[] };
  const slack = (approval: Approval, wireApproval: unknown) =>
    JSON.parse(
      renderBody("slack", {
        event_id: "evt-4",
        type: "approval.created",
        created_at: "2026-01-01T00:00:00Z",
        approval,
        wireApproval,
        consoleUrl: "https://gatehouse.example/console#/approvals/apr-1",
      }),
    ) as { text: string; blocks: Block[] };
  const paramsOf = (message: { blocks: Block[] }) =>
    message.blocks.find((b) => b.text?.text.startsWith("*Params*"))?.text?.text;
  const fieldsOf = (message: { blocks: Block[] }) => message.blocks.flatMap((b) => b.fields ?? []).map((f) => f.text);
  const ide = (params: Record<string, unknown>) =>
    ({
      ...hostileApproval(),
      agent_id: "ide-assistant",
      action: { type: "ide", tool: "run_command", params },
      context: { channel: "agent_session", on_behalf_of: "dev@acme.example", session_id: "s-1" },
    }) as Approval;

  it("shows the command in a code block and who asked (an IDE session's person)", () => {
    const approval = ide({ command: "rm -rf ~" });
    const message = slack(approval, { action: { type: "ide", tool: "run_command", params: { command: "rm -rf ~" } } });
    expect(paramsOf(message)).toBe('*Params*\n```\n{\n  "command": "rm -rf ~"\n}\n```');
    expect(fieldsOf(message)).toContain("*Requested by*\ndev@acme.example (IDE session)");
  });

  it("shows the params as the API does (the tool's redaction applied), never the stored ones", () => {
    const approval = {
      ...ide({}),
      action: { type: "crm", tool: "delete", params: { record_id: "r-42", ssn: "123-45-6789" } },
    };
    const wire = { action: { type: "crm", tool: "delete", params: { record_id: "r-42", ssn: "[redacted]" } } };
    const message = slack(approval as Approval, wire);
    expect(paramsOf(message)).toContain('"record_id": "r-42"');
    expect(JSON.stringify(message)).not.toContain("123-45-6789");
    // Without the rendered approval there is nothing redacted to show: no params at all, not the stored ones.
    expect(paramsOf(slack(approval as Approval, {}))).toBeUndefined();
  });

  it("names no requester for an approval asked over REST (its context.user is what the API key claims)", () => {
    const approval = { ...hostileApproval(), context: { user: "ceo@acme.example" } } as Approval;
    expect(fieldsOf(slack(approval, {})).some((f) => f.startsWith("*Requested by*"))).toBe(false);
  });

  it("a hostile param stays inside its code block: backticks, mrkdwn, bidi and control characters, 1 MB", () => {
    const params = {
      command: "ls ```\n<!channel> *bold* <http://evil.example|ok> \u202eexe.txt\r\u0007 `x`",
      big: "y".repeat(1_000_000),
    };
    const requester = "mallory\u202e<!here>`";
    const approval = {
      ...ide(params),
      context: { channel: "mcp", on_behalf_of: requester },
    } as Approval;
    const message = slack(approval, { action: { type: "ide", tool: "run_command", params } });
    const text = paramsOf(message) ?? "";
    // One block opened and closed; no backtick of the param's left, so none can close it early.
    expect(text.split("```")).toHaveLength(3);
    expect(text.match(/`/g)).toHaveLength(6);
    expect(text).toContain("ls \\u0060\\u0060\\u0060\\n&lt;!channel&gt; *bold* &lt;http://evil.example|ok&gt;");
    expect(text).toContain("\\u202eexe.txt\\r\\u0007 \\u0060x\\u0060");
    // Clipped well under Slack's 3,000 characters of section text, the rest counted.
    expect(text.length).toBeLessThan(2200);
    expect(text).toMatch(/\n… 99\d,\d{3} more characters \(open the approval to see them all\)$/);
    expect(JSON.stringify(message).length).toBeLessThan(6000);
    // Every text Slack reads, as it reads it (parsed): no mention, link, bidi override or control character.
    const texts = [message.text, ...message.blocks.flatMap((b) => [b.text?.text ?? "", ...fieldsOf({ blocks: [b] })])];
    for (const raw of ["<!channel>", "<!here>", "<http://evil.example", "\u202e", "\r", "\u0007"])
      for (const t of texts) expect(t).not.toContain(raw);
    expect(fieldsOf(message)).toContain("*Requested by*\nmallory\\u202e&lt;!here&gt;` (MCP session)");
  });
});
