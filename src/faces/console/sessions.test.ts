// The operator API's list of live IDE sessions (spec: LiveSessions_list), behind the console's Sessions view:
// a real Gatehouse, the reference agent runtime, and an IDE connected over WebSocket.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestGatehouse, type TestGatehouse } from "../../../contract-tests/fixtures";
import { type AgentRuntime, startAgentRuntime } from "../../../examples/agent-runtime/server";

let runtime: AgentRuntime;
let g: TestGatehouse;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 5 });
  g = await startTestGatehouse({
    env: { AGENT_RUNTIME_URL: runtime.url, GATEHOUSE_WS_CONNECTIONS_PER_IP_PER_MINUTE: "1000" },
  });
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

async function listSessions(token: string, org = g.orgId, query = "") {
  const res = await fetch(`${g.url}/api/v1/orgs/${org}/sessions${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return {
    status: res.status,
    body: (await res.json()) as { items: Record<string, unknown>[]; next_cursor?: string; code?: string },
  };
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

  it("pages many sessions newest first; the pages make the whole list, and a cursor outlives a session that ended", async () => {
    const org = "org-paging";
    const developer = await g.devIssuer!.mint({ sub: "dev@paging", org, roles: ["developer"] });
    const operator = await g.devIssuer!.mint({ sub: "op@paging", org, roles: ["operator"] });
    const ides = new Map<string, WebSocket>();
    for (let i = 0; i < 12; i++) {
      const id = `paging-${String(i).padStart(2, "0")}`;
      ides.set(id, await connectIde(id, developer));
    }
    const whole = (await listSessions(operator, org, "?limit=500")).body;
    const ids = whole.items.map((s) => String(s.session_id));
    expect(ids.sort()).toEqual([...ides.keys()].sort());
    const byTime = [...whole.items].sort(
      (a, b) =>
        String(b.created_at).localeCompare(String(a.created_at)) ||
        String(a.session_id).localeCompare(String(b.session_id)),
    );
    expect(whole.items).toEqual(byTime);
    expect(whole.next_cursor).toBeUndefined();

    const walked: unknown[][] = [];
    let cursor: string | undefined;
    do {
      const page = await listSessions(
        operator,
        org,
        `?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      expect(page.status).toBe(200);
      walked.push(page.body.items.map((s) => s.session_id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(walked.map((p) => p.length)).toEqual([5, 5, 2]);
    expect(walked.flat()).toEqual(whole.items.map((s) => s.session_id));

    // The first page's last session ends (its IDE closes 1000) before the second page is read: same second page.
    const first = (await listSessions(operator, org, "?limit=5")).body;
    const ending = String(first.items.at(-1)?.session_id);
    ides.get(ending)?.close(1000);
    await expect
      .poll(async () => (await listSessions(operator, org, "?limit=500")).body.items.map((s) => s.session_id))
      .not.toContain(ending);
    const second = await listSessions(operator, org, `?limit=5&cursor=${encodeURIComponent(first.next_cursor!)}`);
    expect(second.body.items.map((s) => s.session_id)).toEqual(walked[1]);
  });
});
