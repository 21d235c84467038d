// The operator API is for operators. A bearer token of the right org but without the operator role — the IDE
// user's `developer` token that `make run` prints — must not approve escalations (its own agent's among them),
// register or suspend manifests, issue capability tokens or read the audit log. And every refusal, whichever
// face answers it, is the same 403 problem with a code a client can branch on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { expectMatchesSpec } from "../../../test-support/spec-check";

let gh: TestGatehouse;
let developer: string;
let otherOrgOperator: string;

beforeAll(async () => {
  gh = await startTestGatehouse({
    GATEHOUSE_MANIFEST_DIR: new URL("../../../../examples/manifests", import.meta.url).pathname,
  });
  developer = await gh.devIssuer!.mint({ sub: "ide-user@acme", org: gh.orgId, roles: ["developer"] });
  otherOrgOperator = await gh.devIssuer!.mint({ sub: "mallory@other", org: "other-org", roles: ["operator"] });
});
afterAll(async () => {
  await gh?.dispose();
});

async function call(method: string, path: string, init: { token?: string; apiKey?: string; body?: unknown }) {
  const res = await fetch(`${gh.url}${path}`, {
    method,
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.apiKey ? { "x-api-key": init.apiKey } : {}),
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", body: (await res.json()) as any };
}

async function escalate(recordId: string): Promise<string> {
  const res = await call("POST", "/api/v1/gateway/execute", {
    apiKey: gh.apiKey,
    body: {
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      action: { type: "crm", tool: "delete", params: { record_id: recordId } },
    },
  });
  expect(res.body.decision).toBe("ESCALATE");
  return res.body.approval_id;
}

describe("operator API needs the operator role", () => {
  it("a developer token of the same org cannot approve; the approval stays pending and an operator can still decide", async () => {
    const approvalId = await escalate("rec-role-1");
    const path = `/api/v1/orgs/${gh.orgId}/approvals/${approvalId}/approve`;

    const refused = await call("POST", path, { token: developer, body: { reason: "approving my own agent" } });
    expect(refused.status).toBe(403);
    expect(refused.contentType).toContain("application/problem+json");
    expect(refused.body.code).toBe("OPERATOR_ROLE_REQUIRED");
    expectMatchesSpec("Approvals_approve", 403, refused.body);

    const still = await call("GET", `/api/v1/orgs/${gh.orgId}/approvals/${approvalId}`, { token: gh.operatorToken });
    expect(still.body.status).toBe("pending");
    const approved = await call("POST", path, { token: gh.operatorToken, body: {} });
    expect(approved.body).toMatchObject({ status: "approved", decided_by: "operator@contract" });
  });

  it.each([
    [
      "Manifests_register",
      "POST",
      "/manifests",
      {
        uapk_id: "dev-bot",
        agent: { id: "dev-bot", name: "d", version: "1" },
        capabilities: ["x:y"],
        tools: { "x:y": { connector: { type: "noop" } } },
      },
    ],
    ["Manifests_suspend", "POST", "/manifests/880e8400-e29b-41d4-a716-446655440003/suspend", undefined],
    [
      "CapabilityTokens_issue",
      "POST",
      "/capability-tokens",
      { agent_id: "customer-support-bot", uapk_id: "customer-support-bot", capabilities: ["crm:delete"] },
    ],
    ["Approvals_list", "GET", "/approvals", undefined],
    ["Interactions_list", "GET", "/interactions", undefined],
  ] as const)("%s with a developer token → 403 OPERATOR_ROLE_REQUIRED", async (operationId, method, suffix, body) => {
    const res = await call(method, `/api/v1/orgs/${gh.orgId}${suffix}`, { token: developer, body });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("OPERATOR_ROLE_REQUIRED");
    expectMatchesSpec(operationId, 403, res.body);
  });

  it("the seed manifest is untouched by the refused calls", async () => {
    const manifest = await call("GET", `/api/v1/orgs/${gh.orgId}/manifests/880e8400-e29b-41d4-a716-446655440003`, {
      token: gh.operatorToken,
    });
    expect(manifest.body.status).toBe("active");
    const manifests = await call("GET", `/api/v1/orgs/${gh.orgId}/manifests`, { token: gh.operatorToken });
    expect(manifests.body.items.map((m: { uapk_id: string }) => m.uapk_id)).not.toContain("dev-bot");
  });

  it.each([
    ["Manifests_list", "/manifests"],
    ["CapabilityTokens_list", "/capability-tokens"],
    ["Approvals_list", "/approvals"],
    ["Interactions_list", "/interactions"],
  ] as const)("%s by an operator of another org → the same 403 ORG_FORBIDDEN problem", async (operationId, suffix) => {
    const res = await call("GET", `/api/v1/orgs/${gh.orgId}${suffix}`, { token: otherOrgOperator });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: "ORG_FORBIDDEN", type: "urn:gatehouse:problem:org_forbidden" });
    expectMatchesSpec(operationId, 403, res.body);
  });
});
