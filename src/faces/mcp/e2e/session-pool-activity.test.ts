// The pool's least recently used session is the one least recently used by a request's start or end, and a session
// with a call in flight never gives way: the pool went by a request's start only, so in a full pool a session whose
// call was still waiting for its approval was the "least recently used" one and was closed under that call (its
// caller got no answer), and a session whose long call had just ended gave way before one idle since.
import { afterEach, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { operator } from "../../../test-support/http";
import { registerMcpBot, UAPK } from "../../../test-support/mcp";

type Credential = Record<string, string>;
let g: TestGatehouse | undefined;

afterEach(async () => {
  await g?.dispose();
  g = undefined;
});

async function gatehouse(pool: number): Promise<TestGatehouse> {
  g = await startTestGatehouse({
    env: {
      GATEHOUSE_MCP_MAX_SESSIONS: String(pool),
      GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS: "600",
      GATEHOUSE_MCP_PROGRESS_INTERVAL_MS: "100",
    },
  });
  await registerMcpBot(g);
  return g;
}

function post(on: TestGatehouse, who: Credential, body: unknown, sessionId?: string, signal?: AbortSignal) {
  return fetch(`${on.url}/mcp/agents/${UAPK}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...who,
      ...(sessionId ? { "mcp-session-id": sessionId } : {}),
    },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

async function initialize(on: TestGatehouse, who: Credential): Promise<Response> {
  const params = { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "lru", version: "1" } };
  const response = await post(on, who, { jsonrpc: "2.0", id: 1, method: "initialize", params });
  await response.body?.cancel();
  return response;
}

async function open(on: TestGatehouse, who: Credential): Promise<string> {
  const response = await initialize(on, who);
  expect(response.status).toBe(200);
  return response.headers.get("mcp-session-id")!;
}

async function listStatus(on: TestGatehouse, who: Credential, sessionId: string, id = 2): Promise<number> {
  const response = await post(on, who, { jsonrpc: "2.0", id, method: "tools/list" }, sessionId);
  await response.body?.cancel();
  return response.status;
}

/** A crm_delete call (it needs a human approval, and waits for it); its answer once it ends. */
function waitingCall(on: TestGatehouse, who: Credential, sessionId: string, signal?: AbortSignal, progress = false) {
  const params = {
    name: "crm_delete",
    arguments: { params: { id: `c-${sessionId}` }, counterparty: "c@ok.example" },
    ...(progress ? { _meta: { progressToken: "p" } } : {}),
  };
  return post(on, who, { jsonrpc: "2.0", id: 9, method: "tools/call", params }, sessionId, signal);
}

/** The pending approvals' ids, once there are `n` of them (the calls are then waiting, in flight). */
async function pendingApprovals(on: TestGatehouse, n: number): Promise<string[]> {
  for (;;) {
    const queue = await operator(on).get("/approvals?status=pending");
    const ids = [...new Set(JSON.stringify(queue.body).match(/appr-[0-9a-f-]+/g) ?? [])];
    if (ids.length >= n) return ids;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function approve(on: TestGatehouse, approvalId: string): Promise<void> {
  expect((await operator(on).post(`/approvals/${approvalId}/approve`, { reason: "ok" })).status).toBe(200);
}

async function executed(answer: Promise<Response>): Promise<void> {
  const body = (await (await answer).json()) as { result?: { structuredContent?: Record<string, unknown> } };
  expect(body.result?.structuredContent).toMatchObject({ status: "executed", executed: true });
}

const person = async (on: TestGatehouse, sub: string): Promise<Credential> => ({
  authorization: `Bearer ${await on.userTokenFor(on.orgId, sub, ["operator"])}`,
});

describe("the MCP session pool's least recently used session", () => {
  it("is never one with a call in flight: the call waiting for its approval ends with its result", async () => {
    const on = await gatehouse(2);
    const key = { "x-api-key": on.apiKey };
    const [s1, s2] = [await open(on, key), await open(on, key)];
    const call = waitingCall(on, key, s1);
    const [approvalId] = await pendingApprovals(on, 1);
    expect(await listStatus(on, key, s2)).toBe(200); // s1's call started before this
    const ops = await person(on, "ops@lru");
    expect((await initialize(on, ops)).status).toBe(200);
    expect(await listStatus(on, key, s2)).toBe(404);
    await approve(on, approvalId!);
    await executed(call);
    expect(await listStatus(on, key, s1)).toBe(200);
  });

  it("when every session of the pool has a call in flight, a new one is refused 503, and the calls end", async () => {
    const on = await gatehouse(2);
    const key = { "x-api-key": on.apiKey };
    const calls = [waitingCall(on, key, await open(on, key)), waitingCall(on, key, await open(on, key))];
    const approvals = await pendingApprovals(on, 2);
    const refused = await initialize(on, await person(on, "ops@busy"));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBeTruthy();
    for (const id of approvals) await approve(on, id);
    for (const call of calls) await executed(call);
  });

  it("goes by a call's end too: a session whose long call just ended stays, one idle since gives way", async () => {
    const on = await gatehouse(2);
    const key = { "x-api-key": on.apiKey };
    const [s1, s2] = [await open(on, key), await open(on, key)];
    const call = waitingCall(on, key, s1);
    const [approvalId] = await pendingApprovals(on, 1);
    expect(await listStatus(on, key, s2)).toBe(200);
    await approve(on, approvalId!);
    await executed(call); // s1 was used until now, after s2
    expect((await initialize(on, await person(on, "ops@end"))).status).toBe(200);
    expect(await listStatus(on, key, s2)).toBe(404);
    expect(await listStatus(on, key, s1)).toBe(200);
  });

  it("a key holding many sessions loses its own least recently used idle one, never a busy one nor another caller's older one", async () => {
    const on = await gatehouse(3);
    const key = { "x-api-key": on.apiKey };
    const ops = await person(on, "ops@fair");
    const p1 = await open(on, ops); // the oldest of the pool
    const [k1, k2] = [await open(on, key), await open(on, key)];
    const call = waitingCall(on, key, k1); // the key's least recently used once k2 is used, and busy
    const [approvalId] = await pendingApprovals(on, 1);
    expect(await listStatus(on, key, k2)).toBe(200);
    const k3 = await open(on, key);
    expect(await listStatus(on, key, k2)).toBe(404);
    expect(await listStatus(on, ops, p1)).toBe(200);
    expect(await listStatus(on, key, k3)).toBe(200);
    await approve(on, approvalId!);
    await executed(call);
  });

  it.each([
    ["answered as JSON", false],
    ["with progress, as an SSE stream", true],
  ])(
    "a client that vanishes mid-call (%s) does not pin its session: once it left, it can give way",
    async (_, progress) => {
      const on = await gatehouse(2);
      const key = { "x-api-key": on.apiKey };
      const [s1, s2] = [await open(on, key), await open(on, key)];
      const vanishing = new AbortController();
      const call = waitingCall(on, key, s1, vanishing.signal, progress).then(
        (r) => r.body?.cancel(),
        () => undefined,
      );
      await pendingApprovals(on, 1);
      vanishing.abort();
      await call;
      // Its request id is free again once the gateway saw it leave (until then the same id is refused 400, in use).
      while ((await listStatus(on, key, s1, 9)) !== 200) await new Promise((r) => setTimeout(r, 50));
      expect(await listStatus(on, key, s2)).toBe(200);
      expect((await initialize(on, await person(on, "ops@vanish"))).status).toBe(200);
      expect(await listStatus(on, key, s1)).toBe(404);
      expect(await listStatus(on, key, s2)).toBe(200);
      // The approval stays for a retry; nothing ran.
      expect(JSON.stringify((await operator(on).get("/approvals?status=pending")).body)).toContain("appr-");
    },
  );
});
