// Requests the gateway must refuse with a problem a client can act on (a code and a pointer), found by using
// the API as an agent developer: a batch whose action_ids cannot be told apart, a token request that names
// no manifest.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { expectMatchesSpec } from "../../../test-support/spec-check";

let gh: TestGatehouse;

beforeAll(async () => {
  gh = await startTestGatehouse({
    env: {
      GATEHOUSE_MANIFEST_DIR: new URL("../../../../examples/manifests", import.meta.url).pathname,
    },
  });
});
afterAll(async () => {
  await gh?.dispose();
});

async function post(path: string, headers: Record<string, string>, body: unknown) {
  const res = await fetch(`${gh.url}${path}`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", body: (await res.json()) as any };
}

describe("batch", () => {
  it("two actions with the same action_id → 400 naming the repeated one, and nothing runs", async () => {
    const send = { type: "email", tool: "send", params: { to: "u@acme.com", subject: "Hello" } };
    const res = await post(
      "/api/v1/gateway/batch",
      { "x-api-key": gh.apiKey },
      {
        uapk_id: "customer-support-bot",
        agent_id: "customer-support-bot",
        actions: [
          { action_id: "a1", ...send },
          { action_id: "a2", ...send },
          { action_id: "a1", ...send },
        ],
      },
    );
    expect(res.status).toBe(400);
    expect(res.contentType).toContain("application/problem+json");
    expect(res.body.code).toBe("VALIDATION_FAILED");
    expect(res.body.errors).toEqual([
      { pointer: "/body/actions/2/action_id", message: expect.stringContaining("'a1'") },
    ]);
    expectMatchesSpec("Gateway_batch", 400, res.body);

    const log = await fetch(`${gh.url}/api/v1/orgs/${gh.orgId}/interactions`, {
      headers: { authorization: `Bearer ${gh.operatorToken}` },
    });
    expect(((await log.json()) as { items: unknown[] }).items).toEqual([]);
  });
});

describe("capability token issue", () => {
  it("without manifest_id or uapk_id → 400 INVALID_TOKEN_REQUEST pointing at manifest_id", async () => {
    const res = await post(
      `/api/v1/orgs/${gh.orgId}/capability-tokens`,
      { authorization: `Bearer ${gh.operatorToken}` },
      {
        agent_id: "customer-support-bot",
        capabilities: ["email:send"],
      },
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "INVALID_TOKEN_REQUEST", errors: [{ pointer: "/manifest_id" }] });
    expectMatchesSpec("CapabilityTokens_issue", 400, res.body);
  });

  it("with a manifest_id and a uapk_id of different manifests → 400 pointing at uapk_id, and no token", async () => {
    const operator = { authorization: `Bearer ${gh.operatorToken}` };
    const res = await post(`/api/v1/orgs/${gh.orgId}/capability-tokens`, operator, {
      agent_id: "customer-support-bot",
      manifest_id: "880e8400-e29b-41d4-a716-446655440003", // customer-support-bot's (examples/manifests)
      uapk_id: "ide-assistant",
      capabilities: ["email:send"],
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "INVALID_TOKEN_REQUEST", errors: [{ pointer: "/uapk_id" }] });
    expectMatchesSpec("CapabilityTokens_issue", 400, res.body);
    const listed = await fetch(`${gh.url}/api/v1/orgs/${gh.orgId}/capability-tokens`, { headers: operator });
    expect(((await listed.json()) as { items: unknown[] }).items).toEqual([]);
    // Control: both naming the same manifest is fine.
    const same = await post(`/api/v1/orgs/${gh.orgId}/capability-tokens`, operator, {
      agent_id: "customer-support-bot",
      manifest_id: "880e8400-e29b-41d4-a716-446655440003",
      uapk_id: "customer-support-bot",
      capabilities: ["email:send"],
    });
    expect(same.status).toBe(201);
  });

  it("with an unknown manifest → 404 that names it", async () => {
    const res = await post(
      `/api/v1/orgs/${gh.orgId}/capability-tokens`,
      { authorization: `Bearer ${gh.operatorToken}` },
      {
        agent_id: "customer-support-bot",
        uapk_id: "no-such-bot",
        capabilities: ["email:send"],
      },
    );
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: "MANIFEST_NOT_FOUND", detail: "Manifest 'no-such-bot' not found" });
  });
});

describe("the gateway's own channels", () => {
  it("a REST body naming mcp or agent_session in any spelling (case, full-width, padding) → 400, nothing runs", async () => {
    const send = { type: "email", tool: "send", params: { to: "u@acme.com", subject: "Hello" } };
    for (const channel of ["mcp", "MCP", "Agent_Session", "ｍｃｐ", " mcp "]) {
      const res = await post(
        "/api/v1/gateway/execute",
        { "x-api-key": gh.apiKey },
        { uapk_id: "customer-support-bot", agent_id: "customer-support-bot", action: send, context: { channel } },
      );
      expect(res.status, channel).toBe(400);
      expect(res.body.errors).toEqual([expect.objectContaining({ pointer: "/body/context/channel" })]);
    }
  });
});
