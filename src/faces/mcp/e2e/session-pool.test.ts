// The node's pool of open MCP sessions is shared: one credential that keeps opening sessions cannot fill it and
// lock every other caller out (503) until its sessions go idle.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { registerMcpBot, UAPK } from "./support";

const POOL = 3;
let g: TestGatehouse;

beforeAll(async () => {
  g = await startTestGatehouse({ env: { GATEHOUSE_MCP_MAX_SESSIONS: String(POOL) } });
  await registerMcpBot(g);
});

afterAll(async () => {
  await g?.dispose();
});

function post(credential: Record<string, string>, body: unknown, sessionId?: string) {
  return fetch(`${g.url}/mcp/agents/${UAPK}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...credential,
      ...(sessionId ? { "mcp-session-id": sessionId } : {}),
    },
    body: JSON.stringify(body),
  });
}

const initialize = (credential: Record<string, string>) =>
  post(credential, {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "pool", version: "1" } },
  });

async function openSession(credential: Record<string, string>): Promise<string> {
  const response = await initialize(credential);
  expect(response.status).toBe(200);
  await response.body?.cancel();
  return response.headers.get("mcp-session-id")!;
}

const toolsList = (credential: Record<string, string>, sessionId: string) =>
  post(credential, { jsonrpc: "2.0", id: 2, method: "tools/list" }, sessionId);

describe("the MCP session pool", () => {
  it("one credential holding every session does not lock another out: its oldest unused session gives way", async () => {
    const agent = { "x-api-key": g.apiKey };
    const held: string[] = [];
    for (let i = 0; i < POOL; i++) held.push(await openSession(agent));
    // The newest ones stay in use; the first is the least recently used.
    for (const id of held.slice(1)) expect((await toolsList(agent, id)).status).toBe(200);

    const person = { authorization: `Bearer ${await g.userTokenFor(g.orgId, "dev@pool", ["operator"])}` };
    const theirs = await openSession(person);
    expect((await toolsList(person, theirs)).status).toBe(200);
    expect((await toolsList(agent, held[0]!)).status).toBe(404);
    for (const id of held.slice(1)) expect((await toolsList(agent, id)).status).toBe(200);

    // The credential with the most sessions cannot take a fair share back from the others: it is told to wait.
    const again = await initialize(agent);
    expect(again.status).toBe(503);
    expect(await again.json()).toMatchObject({ code: "MCP_SESSIONS_FULL" });
    expect((await toolsList(person, theirs)).status).toBe(200);
  });
});
