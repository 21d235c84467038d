// Who may open `/mcp/agents/{uapk_id}` with a person's token. The endpoint runs the agent's governed tools as that
// agent (its budget, its approvals) and reads the state of any of its approvals: with the REST API a person can do
// that only as an operator (the operator API's rule: role operator or platform_admin), so a developer (IDE) token,
// or one without a role, is refused with 403 problem+json before any JSON-RPC — it must not act as every agent
// of its org. The agent's own API key is unaffected.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { registerMcpBot, UAPK } from "../../../test-support/mcp";

let g: TestGatehouse;
const endpoint = () => `${g.url}/mcp/agents/${UAPK}`;

beforeAll(async () => {
  g = await startTestGatehouse();
  await registerMcpBot(g);
});

afterAll(async () => {
  await g?.dispose();
});

const initialize = (credential: Record<string, string>) =>
  fetch(endpoint(), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...credential },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "role", version: "0" } },
    }),
  });

const bearer = async (roles: string[], org = g.orgId) => ({
  authorization: `Bearer ${await g.userTokenFor(org, `person-${roles.join("+") || "none"}@${org}`, roles)}`,
});

describe("/mcp/agents and a person's role", () => {
  it.each([[["operator"]], [["platform_admin"]], [["developer", "operator"]]])(
    "a token with roles %j opens a session",
    async (roles) => {
      const response = await initialize(await bearer(roles));
      expect(response.status).toBe(200);
      expect(response.headers.get("mcp-session-id")).toBeTruthy();
    },
  );

  it.each([[["developer"]], [[]], [["Operator"]], [["operator "]], [["ореrator"]]])(
    "a token with roles %j is refused with 403 OPERATOR_ROLE_REQUIRED, and no session is opened",
    async (roles) => {
      const response = await initialize(await bearer(roles));
      expect(response.status).toBe(403);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      expect(response.headers.get("mcp-session-id")).toBeNull();
      expect(await response.json()).toMatchObject({ status: 403, code: "OPERATOR_ROLE_REQUIRED" });
    },
  );

  it("a developer token is refused on every method, not only initialize", async () => {
    for (const method of ["GET", "DELETE"]) {
      const response = await fetch(endpoint(), {
        method,
        headers: { accept: "text/event-stream", "mcp-session-id": "any", ...(await bearer(["developer"])) },
      });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ code: "OPERATOR_ROLE_REQUIRED" });
    }
  });

  it("another org's operator does not reach this org's agent (its own org has no such manifest)", async () => {
    const response = await initialize(await bearer(["operator"], "other-org"));
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "MANIFEST_NOT_FOUND" });
  });

  it("the agent's API key opens a session as before", async () => {
    expect((await initialize({ "x-api-key": g.apiKey })).status).toBe(200);
  });
});
