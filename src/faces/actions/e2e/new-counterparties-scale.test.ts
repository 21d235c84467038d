// `escalate_new_counterparties` on an action that names thousands of recipients: the policy asks the store which of
// them are new. Asked one round trip per recipient, a 5,000-recipient action held its request (and a pooled
// PostgreSQL connection) for seconds before any answer, on every node that had not seen them yet. The store asks in
// batches (the store contract counts its queries: ../../../core/store/contract/stores.test.ts); here, on both
// backends, the decision over HTTP is right: the new ones escalate, the known ones do not.
import { describe, expect, it } from "vitest";
import { gatehouseBackends, gatehouseOn } from "../../../test-support/backends";
import { agent, executeBody, operator } from "../../../test-support/http";

const UAPK = "newsletter-bot";
const RECIPIENTS = 5000;

const addresses = (count: number, tag: string) =>
  Array.from({ length: count }, (_, i) => `reader-${tag}-${String(i).padStart(5, "0")}@news.example`);

const backends = await gatehouseBackends("new counterparties at scale");

describe.each(backends)("NEW_COUNTERPARTY over thousands of recipients ($name)", (backend) => {
  const gatehouse = gatehouseOn(backend, [
    {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Newsletter" },
      capabilities: ["email:send"],
      policy: { escalate_new_counterparties: true },
      tools: { "email:send": { connector: { type: "echo" } } },
    },
  ]);

  const send = (to: string[], extra: Record<string, unknown> = {}) =>
    executeBody(UAPK, { type: "email", tool: "send", params: { to, subject: "News" } }, extra);

  it(`${RECIPIENTS} new recipients are judged in one go, and only the new ones escalate`, async () => {
    const g = gatehouse();
    const known = addresses(3, "known");
    const first = await agent(g).post("/api/v1/gateway/execute", send(known));
    expect(first.body).toMatchObject({ decision: "ESCALATE" });
    expect((await operator(g).post(`/approvals/${first.body.approval_id}/approve`, {})).status).toBe(200);
    const ran = await agent(g).post("/api/v1/gateway/execute", send(known, { approval_id: first.body.approval_id }));
    expect(ran.body).toMatchObject({ decision: "ALLOW", executed: true });

    const fresh = addresses(RECIPIENTS, "new");
    const evaluated = await agent(g).post("/api/v1/gateway/evaluate", send([...known, ...fresh]));
    expect(evaluated.body.decision).toBe("ESCALATE");
    const reason = evaluated.body.reasons.find((r: { code: string }) => r.code === "NEW_COUNTERPARTY");
    expect(reason.message).toContain(`and ${RECIPIENTS - 10} more`);
    expect(reason.message).not.toContain("reader-known");

    // The known ones alone pass.
    const again = await agent(g).post("/api/v1/gateway/evaluate", send(known));
    expect(again.body.decision).toBe("ALLOW");
  });
});
