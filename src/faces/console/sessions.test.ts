// The operator API's list of live IDE sessions (spec: LiveSessions_list), behind the console's Sessions view:
// a real Gatehouse, the reference agent runtime, and an IDE connected over WebSocket.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startAgentRuntime, type AgentRuntime } from "../../../examples/agent-runtime/server";
import { startTestGatehouse, type TestGatehouse } from "../../../contract-tests/fixtures";

let runtime: AgentRuntime;
let g: TestGatehouse;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 5 });
  g = await startTestGatehouse({ env: { AGENT_RUNTIME_URL: runtime.url } });
});
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await g?.dispose();
  await runtime?.close();
});

async function connectIde(sessionId: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(`${g.url.replace(/^http/, "ws")}/ws/${sessionId}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  sockets.push(ws);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return ws;
}

async function listSessions(token: string, org = g.orgId) {
  const res = await fetch(`${g.url}/api/v1/orgs/${org}/sessions`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as { items: Record<string, unknown>[]; code?: string } };
}

describe("live sessions (operator API)", () => {
  it("lists the org's connected IDE sessions, and shows when the IDE left", async () => {
    const developer = await g.devIssuer!.mint({ sub: "dev@acme", org: g.orgId, roles: ["developer"] });
    const sessionId = randomUUID();
    const ws = await connectIde(sessionId, developer);

    const listed = await listSessions(g.operatorToken);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({
        session_id: sessionId,
        user: "dev@acme",
        ide_connected: true,
        pending_tool_calls: 0,
        awaiting_approval: 0,
      }),
    ]);
    expect(Date.now() - Date.parse(String(listed.body.items[0]?.created_at))).toBeLessThan(60_000);

    ws.close();
    await expect
      .poll(async () => (await listSessions(g.operatorToken)).body.items[0]?.ide_connected, { timeout: 5000 })
      .toBe(false);
  });

  it("shows nothing of another org, and only to operators", async () => {
    const otherOperator = await g.devIssuer!.mint({ sub: "op@other", org: "org-other", roles: ["operator"] });
    expect((await listSessions(otherOperator, "org-other")).body.items).toEqual([]);
    expect((await listSessions(otherOperator)).status).toBe(403);
    const developer = await g.devIssuer!.mint({ sub: "dev@acme", org: g.orgId, roles: ["developer"] });
    const refused = await listSessions(developer);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("OPERATOR_ROLE_REQUIRED");
  });
});
