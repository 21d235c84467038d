// Ids of another org, used from outside over HTTP. Two orgs register the same agent (`twin-bot`, the same manifest
// content: ids are per org), so everything but the org is identical. Whatever id of org A org B presents — an
// approval in an execute or batch body, in the agent's long-poll or the operator's paths; a capability token in an
// execute; a token, interaction, evidence or webhook id in B's operator paths — B learns nothing (404, as an unused
// id) and can change nothing of A's, and A's objects still work for A. An approval also never crosses agents of one
// org. On both store backends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import { agent, executeBody, operator, registerManifest, type Reply } from "../../../test-support/http";

const ORG_B = "org-b-cross";
const TWIN = "twin-bot";
const SIBLING = "sibling-bot";

const manifestOf = (uapk: string) => ({
  uapk_id: uapk,
  agent: { id: uapk, name: uapk },
  capabilities: ["crm:delete", "email:send"],
  constraints: { max_actions_per_hour: 1000, require_human_approval: ["crm:delete"] },
  tools: { "crm:delete": { connector: { type: "echo" } }, "email:send": { connector: { type: "echo" } } },
});
const deleteRecord = (uapk: string, extra: Record<string, unknown> = {}) =>
  executeBody(uapk, { type: "crm", tool: "delete", params: { record_id: "rec-42" } }, extra);

const backends = await gatehouseBackends("ids of another org");

describe.each(backends)("ids of another org over HTTP ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let keyB: string;
  let tokenB: string;
  /** Org A's approved, unused approval of `crm:delete rec-42` by TWIN. */
  let approvedA: string;

  const asB = {
    post: (path: string, body: unknown) => call("POST", path, { "x-api-key": keyB }, body),
    get: (path: string) => call("GET", path, { "x-api-key": keyB }),
  };
  const operatorB = (method: string, path: string, body?: unknown) =>
    call(method, `/api/v1/orgs/${ORG_B}${path}`, { authorization: `Bearer ${tokenB}` }, body);

  async function call(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Reply> {
    const response = await fetch(`${g.url}${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, text, headers: response.headers };
  }

  async function approvedApproval(uapk: string): Promise<string> {
    const asked = await agent(g).post("/api/v1/gateway/execute", deleteRecord(uapk));
    expect(asked.body).toMatchObject({ decision: "ESCALATE" });
    const approved = await operator(g).post(`/approvals/${asked.body.approval_id}/approve`, { reason: "ok" });
    expect(approved.status, approved.text).toBe(200);
    return asked.body.approval_id;
  }

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
    keyB = (await g.apiKeys.create(ORG_B, "org B agent")).key;
    tokenB = await g.userTokenFor(ORG_B, "bob@org-b", ["operator"]);
    await registerManifest(g, manifestOf(TWIN));
    await registerManifest(g, manifestOf(SIBLING));
    const inB = await operatorB("POST", "/manifests", manifestOf(TWIN));
    expect([200, 201]).toContain(inB.status);
    approvedA = await approvedApproval(TWIN);
  });

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
  });

  it("org A's approval never releases org B's identical action (execute, evaluate, batch), nor is it spent by trying", async () => {
    for (const path of ["/api/v1/gateway/execute", "/api/v1/gateway/evaluate"]) {
      const reply = await asB.post(path, deleteRecord(TWIN, { approval_id: approvedA }));
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body.decision, path).not.toBe("ALLOW");
      expect(reply.body.executed ?? false).toBe(false);
    }
    const batch = await asB.post("/api/v1/gateway/batch", {
      uapk_id: TWIN,
      agent_id: TWIN,
      actions: [{ action_id: "a1", ...deleteRecord(TWIN).action, approval_id: approvedA }],
    });
    expect(batch.status, batch.text).toBe(200);
    expect(batch.body.results).toMatchObject([{ action_id: "a1", decision: "ESCALATE", executed: false }]);

    const ran = await agent(g).post("/api/v1/gateway/execute", deleteRecord(TWIN, { approval_id: approvedA }));
    expect(ran.body).toMatchObject({ decision: "ALLOW", executed: true });
  });

  it("an approval of one agent never releases another agent's identical action in the same org", async () => {
    const approvedTwin = await approvedApproval(TWIN);
    const reply = await agent(g).post("/api/v1/gateway/execute", deleteRecord(SIBLING, { approval_id: approvedTwin }));
    expect(reply.body.decision).toBe("ESCALATE");
    expect(reply.body.executed).toBe(false);
  });

  it("org B reads and decides none of org A's approvals: the agent's long-poll and every operator path are 404", async () => {
    const pending = await agent(g).post("/api/v1/gateway/execute", deleteRecord(TWIN));
    const id = pending.body.approval_id as string;
    expect((await asB.get(`/api/v1/gateway/approvals/${id}`)).status).toBe(404);
    expect((await asB.get(`/api/v1/gateway/approvals/${id}?wait=1`)).status).toBe(404);
    expect((await operatorB("GET", `/approvals/${id}`)).status).toBe(404);
    for (const verdict of ["approve", "deny"]) {
      const reply = await operatorB("POST", `/approvals/${id}/${verdict}`, { reason: "mine now" });
      expect(reply.status, `${verdict}: ${reply.text}`).toBe(404);
    }
    const listed = await operatorB("GET", "/approvals");
    expect(JSON.stringify(listed.body)).not.toContain(id);
    expect((await operator(g).get(`/approvals/${id}`)).body).toMatchObject({ status: "pending" });
  });

  it("org A's capability token is refused with org B's API key, and org B cannot revoke it", async () => {
    const manifest = await operator(g).get(`/manifests`);
    const twinA = (manifest.body.items ?? manifest.body).find((m: { uapk_id: string }) => m.uapk_id === TWIN);
    const issued = await operator(g).post("/capability-tokens", {
      issuer_id: "issuer-a",
      agent_id: TWIN,
      manifest_id: twinA.manifest_id ?? twinA.id,
      capabilities: ["email:send"],
      expires_in_hours: 1,
    });
    expect(issued.status, issued.text).toBe(201);
    const send = executeBody(
      TWIN,
      { type: "email", tool: "send", params: { to: "ann@acme.com" } },
      { capability_token: issued.body.token },
    );
    const fromB = await asB.post("/api/v1/gateway/execute", send);
    expect(fromB.body).toMatchObject({ decision: "DENY", executed: false });

    expect((await operatorB("POST", `/capability-tokens/${issued.body.token_id}/revoke`, {})).status).toBe(404);
    const listedB = await operatorB("GET", "/capability-tokens");
    expect(JSON.stringify(listedB.body)).not.toContain(issued.body.token_id);
    const fromA = await agent(g).post("/api/v1/gateway/execute", send);
    expect(fromA.body).toMatchObject({ decision: "ALLOW", executed: true });
  });

  it("org A's interactions, evidence and webhooks are 404 in org B's paths, and stay A's", async () => {
    const ran = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(TWIN, { type: "email", tool: "send", params: { to: "ann@acme.com" } }),
    );
    const interaction = ran.body.interaction_id as string;
    expect((await operatorB("GET", `/interactions/${interaction}`)).status).toBe(404);
    expect((await operatorB("GET", `/interactions/${interaction}/evidence`)).status).toBe(404);
    expect((await operator(g).get(`/interactions/${interaction}`)).status).toBe(200);

    const hook = await operator(g).post("/webhooks", { url: "https://hooks.example.com/a", format: "gatehouse" });
    expect(hook.status, hook.text).toBe(201);
    const id = hook.body.webhook_id as string;
    expect((await operatorB("DELETE", `/webhooks/${id}`)).status).toBe(404);
    expect(JSON.stringify((await operatorB("GET", "/webhooks")).body)).not.toContain(id);
    expect(JSON.stringify((await operator(g).get("/webhooks")).body)).toContain(id);
  });
});
