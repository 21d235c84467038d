// An approval's risk picture says when the policy could not read the params completely: a recipient past the walk's
// limit (more than 10,000 values here) is in no list, and an operator shown `recipients: []` must be told the list
// may be missing some. The reason is stored with the approval and comes back from the operator API, on both stores.
import { describe, expect, it } from "vitest";
import { gatehouseBackends, gatehouseOn } from "../../../test-support/backends";
import { agent, executeBody, operator } from "../../../test-support/http";

const UAPK = "bulk-mailer";
const backends = await gatehouseBackends("incomplete risk picture");

describe.each(backends)("an approval's risk picture of params too large to read ($name)", (backend) => {
  const gatehouse = gatehouseOn(backend, [
    {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Bulk Mailer" },
      capabilities: ["email:send"],
      constraints: { require_human_approval: ["email:send"] },
      tools: { "email:send": { connector: { type: "echo" } } },
    },
  ]);

  it("says it is incomplete, in the stored approval as the API returns it", async () => {
    const a: Record<string, unknown> = {};
    for (let i = 0; i < 10_050; i++) a[`k${i}`] = 1;
    a.zz = { to: "boss@evil.com" };
    const g = gatehouse();
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "email", tool: "send", params: { a } }),
    );
    expect(reply.body).toMatchObject({ decision: "ESCALATE", executed: false });
    const approval = await operator(g).get(`/approvals/${reply.body.approval_id}`);
    expect(approval.status).toBe(200);
    expect(approval.body.risk.incomplete).toMatch(/more than 10000 values/);
    expect(approval.body.risk.recipients).not.toContain("boss@evil.com");
  });
});
