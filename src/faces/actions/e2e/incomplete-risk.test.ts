// An approval's risk picture says when the policy could not read the params completely: what it left unread (here a
// statement descriptor of more pieces than any card statement shows) may name someone, and an operator shown the
// recipients and names it did read must be told they may be missing some. The reason is stored with the approval and comes back from the operator API, on both stores.
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
    // More values than the walk reads is refused at the boundary now (400, many-values.test.ts); a statement
    // descriptor of more `*` pieces than a card statement shows is still accepted and left unread.
    const descriptor = Array.from({ length: 20 }, (_, i) => `PIECE${i}`).join("*");
    const g = gatehouse();
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, {
        type: "email",
        tool: "send",
        params: { to: "ann@acme.example", statement_descriptor: descriptor },
      }),
    );
    expect(reply.body).toMatchObject({ decision: "ESCALATE", executed: false });
    const approval = await operator(g).get(`/approvals/${reply.body.approval_id}`);
    expect(approval.status).toBe(200);
    expect(approval.body.risk.incomplete).toMatch(/statement_descriptor has more than 16 "\*"-separated pieces/);
  });
});
