// A counterparty of several words (a person's name, an IBAN in print format) is one counterparty under
// `escalate_new_counterparties`, live and in shadow replay: once "John Smith" and "Jane Doe" were paid, "John Doe"
// is still new (its words were remembered one by one before, so it passed as known), and a replay of the manifest in
// force changes nothing (replay looks a counterparty up by the same key the stores keep).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { agent, executeBody, operator, registerManifest } from "../../../test-support/http";

const UAPK = "payee-bot";
const manifest = {
  uapk_id: UAPK,
  agent: { id: UAPK, name: "Payee Bot" },
  capabilities: ["payment:wire"],
  policy: { escalate_new_counterparties: true },
  tools: { "payment:wire": { connector: { type: "echo" } } },
};

describe("counterparties of several words", () => {
  let g: TestGatehouse;
  let manifestId: string;

  const wire = (counterparty: string, extra: Record<string, unknown> = {}) =>
    agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "payment", tool: "wire", counterparty, params: {} }, extra),
    );

  /** Escalated as new, approved by an operator, then run with the approval: the counterparty is known after it. */
  async function pay(counterparty: string): Promise<void> {
    const first = await wire(counterparty);
    expect(first.body.decision, first.text).toBe("ESCALATE");
    const approved = await operator(g).post(`/approvals/${first.body.approval_id}/approve`, {});
    expect(approved.status, approved.text).toBe(200);
    const run = await wire(counterparty, { approval_id: first.body.approval_id });
    expect(run.body.decision, run.text).toBe("ALLOW");
  }

  beforeAll(async () => {
    g = await startTestGatehouse();
    manifestId = (await registerManifest(g, manifest)).body.manifest_id;
    await pay("John Smith");
    await pay("Jane Doe");
  });

  afterAll(async () => {
    await g?.dispose();
  });

  it("a name made of known words is a new counterparty", async () => {
    const reply = await wire("John Doe");
    expect(reply.body.decision, reply.text).toBe("ESCALATE");
    expect(reply.body.reasons.map((r: { code: string }) => r.code)).toEqual(["NEW_COUNTERPARTY"]);
    expect(reply.body.reasons[0].message).toContain("'john doe'");
  });

  it("a known name is known, however it is spaced or cased, and its replay changes nothing", async () => {
    const again = await wire("john   SMITH");
    expect(again.body.decision, again.text).toBe("ALLOW");
    const report = await operator(g).post(`/manifests/${manifestId}/replay`, { candidate: manifest });
    expect(report.status, report.text).toBe(200);
    expect(report.body).toMatchObject({ changed: 0, loosening: 0, tightening: 0 });
  });
});
