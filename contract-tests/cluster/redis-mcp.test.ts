// MCP sessions across two nodes sharing Redis (no sticky routing): a session opened on node A is served by node B
// under the same id (rebuilt there from its shared record), to its own caller only; a DELETE on either node ends it
// on both. Without Redis a node serves only the sessions it opened (404 elsewhere, as before).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRunRedisTests, TEST_REDIS_URL } from "../../src/core/events/redis-availability";
import { exportedRecords, operator, registerManifest } from "../../src/test-support/http";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";
import { openSharedSqliteStore, startTwoNodes, type TwoNodes } from "./nodes";

const runRedis = await shouldRunRedisTests("MCP sessions across nodes");
const UAPK = "cluster-mcp-shared";
const OTHER_UAPK = "cluster-mcp-other";
const manifest = (uapk: string) => ({
  uapk_id: uapk,
  agent: { id: uapk, name: "Cluster MCP" },
  capabilities: ["crm:read"],
  tools: { "crm:read": { connector: { type: "echo" } } },
});

type Credential = Record<string, string>;

function mcp(node: { url: string }, credential: Credential, sessionId?: string, uapk = UAPK) {
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    ...credential,
    ...(sessionId ? { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-03-26" } : {}),
  };
  const url = `${node.url}/mcp/agents/${uapk}`;
  return {
    post: (body: unknown) => fetch(url, { method: "POST", headers, body: JSON.stringify(body) }),
    delete: () => fetch(url, { method: "DELETE", headers }),
  };
}

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-03-26", capabilities: { roots: {} }, clientInfo: { name: "cluster", version: "1" } },
};
const toolsList = (id = 2) => ({ jsonrpc: "2.0", id, method: "tools/list" });
const readCall = (id: number, marker: string) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "crm_read", arguments: { params: { marker } } },
});

async function initialize(node: { url: string }, credential: Credential, uapk = UAPK): Promise<string> {
  const response = await mcp(node, credential, undefined, uapk).post(INITIALIZE);
  expect(response.status).toBe(200);
  await response.text();
  return response.headers.get("mcp-session-id")!;
}

describe.runIf(runRedis)("MCP sessions on two nodes sharing Redis", () => {
  let nodes: TwoNodes;
  let key: Credential;
  const store = openSharedSqliteStore();

  beforeAll(async () => {
    nodes = await startTwoNodes({}, store);
    await registerManifest(nodes.a, manifest(UAPK));
    await registerManifest(nodes.a, manifest(OTHER_UAPK));
    key = { "x-api-key": nodes.a.apiKey };
  });
  afterAll(async () => nodes?.dispose());

  it("opened on A, used on B: tools/list and a governed call, audited once with the session's id", async () => {
    const sessionId = await initialize(nodes.a, key);
    const onB = mcp(nodes.b, key, sessionId);
    const listed = await onB.post(toolsList());
    expect(listed.status).toBe(200);
    expect(listed.headers.get("mcp-session-id")).toBe(sessionId);
    expect(
      ((await listed.json()) as { result: { tools: { name: string }[] } }).result.tools.map(
        (t: { name: string }) => t.name,
      ),
    ).toContain("crm_read");

    const marker = randomUUID();
    const called = await onB.post(readCall(3, marker));
    expect(called.status).toBe(200);
    expect(await called.json()).toMatchObject({
      id: 3,
      result: { isError: false, structuredContent: { decision: "ALLOW" } },
    });
    // Still A's session too.
    expect((await mcp(nodes.a, key, sessionId).post(toolsList(4))).status).toBe(200);

    const { records } = await exportedRecords(nodes.a);
    const call = records.filter((r) => JSON.stringify(r).includes(marker));
    // One interaction (an ALLOW is its intent and its outcome), recorded once.
    expect(new Set(call.map((r) => r.interaction_id)).size).toBe(1);
    expect(call.map((r) => r.kind)).toEqual(["intent", "outcome"]);
    for (const r of call) expect(JSON.stringify(r)).toContain(`"mcp_session_id":"${sessionId}"`);
  });

  it("the session's capability token (X-Capability-Token of its initialize) governs its calls on B too", async () => {
    // A token that does not verify opens no session (review R15): 403 problem+json, nothing shared.
    const refused = await mcp(nodes.a, { ...key, "x-capability-token": "not-a-jwt" }).post(INITIALIZE);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: "CAPABILITY_TOKEN_REFUSED" });
    const issued = await operator(nodes.a).post("/capability-tokens", {
      agent_id: UAPK,
      uapk_id: UAPK,
      capabilities: ["crm:read"],
    });
    expect(issued.status, issued.text).toBe(201);
    const response = await mcp(nodes.a, { ...key, "x-capability-token": issued.body.token }).post(INITIALIZE);
    expect(response.status).toBe(200);
    await response.text();
    const sessionId = response.headers.get("mcp-session-id")!;
    // Revoked after the session opened: B, rebuilding it from the shared record, still applies its token.
    expect((await operator(nodes.a).post(`/capability-tokens/${issued.body.token_id}/revoke`, {})).status).toBe(200);
    for (const node of [nodes.a, nodes.b]) {
      const called = await mcp(node, key, sessionId).post(readCall(6, "with-token"));
      expect(await called.json()).toMatchObject({
        result: { isError: true, structuredContent: { decision: "DENY", reasons: [{ code: "TOKEN_REVOKED" }] } },
      });
    }
  });

  it("a call asking for progress (answered by the SDK transport, as an SSE stream) works on B", async () => {
    const sessionId = await initialize(nodes.a, key);
    const call = readCall(7, "progress");
    const streamed = await mcp(nodes.b, key, sessionId).post({
      ...call,
      params: { ...call.params, _meta: { progressToken: "p" } },
    });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get("content-type")).toBe("text/event-stream");
    const event = /^data: (.+)$/m.exec(await streamed.text())?.[1];
    expect(JSON.parse(event!)).toMatchObject({ id: 7, result: { isError: false } });
  });

  it("the shared record lives an idle period, refreshed by each use on any node", async () => {
    const sessionId = await initialize(nodes.a, key);
    const record = `${nodes.prefix}:mcp:session:${sessionId}`;
    const ttl = await nodes.redis.pttl(record);
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThanOrEqual(30 * 60_000);
    await nodes.redis.pexpire(record, 5_000);
    expect((await mcp(nodes.b, key, sessionId).post(toolsList())).status).toBe(200);
    expect(await nodes.redis.pttl(record)).toBeGreaterThan(29 * 60_000);
    await nodes.redis.pexpire(record, 5_000);
    expect((await mcp(nodes.a, key, sessionId).post(toolsList())).status).toBe(200);
    expect(await nodes.redis.pttl(record)).toBeGreaterThan(29 * 60_000);
  });

  it("another API key of the org, another org's key, a person, another endpoint: 404 on B, as on A", async () => {
    const sessionId = await initialize(nodes.a, key);
    const sameOrgKey = (await nodes.a.apiKeys.create(nodes.a.orgId, "another agent")).key;
    const otherOrgKey = (await nodes.a.apiKeys.create("other-org", "other org agent")).key;
    const person = `Bearer ${await nodes.a.userTokenFor(nodes.a.orgId, "ops@cluster", ["operator"])}`;
    const strangers: Credential[] = [
      { "x-api-key": sameOrgKey },
      { "x-api-key": otherOrgKey },
      { authorization: person },
    ];
    for (const node of [nodes.b, nodes.a])
      for (const stranger of strangers) {
        const refused = await mcp(node, stranger, sessionId).post(toolsList());
        expect(refused.status).toBe(404);
        expect(await refused.json()).toMatchObject({ code: "MCP_SESSION_NOT_FOUND" });
        expect((await mcp(node, stranger, sessionId).delete()).status).toBe(404);
      }
    const elsewhere = await mcp(nodes.b, key, sessionId, OTHER_UAPK).post(toolsList());
    expect(elsewhere.status).toBe(404);
    // None of them ended it or took it over: its owner still uses it on both nodes.
    expect((await mcp(nodes.b, key, sessionId).post(toolsList())).status).toBe(200);
    expect((await mcp(nodes.a, key, sessionId).post(toolsList())).status).toBe(200);
  });

  it("made-up ids are 404 on every node (never looked up as Redis keys when they are not a session id)", async () => {
    for (const id of [randomUUID(), "*", `${randomUUID()}:x`, "../session", "A".repeat(200)]) {
      const response = await mcp(nodes.b, key, id).post(toolsList());
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: "MCP_SESSION_NOT_FOUND" });
    }
  });

  it("DELETE on B ends the session everywhere: A, which opened it and holds it, then answers 404", async () => {
    const sessionId = await initialize(nodes.a, key);
    expect((await mcp(nodes.a, key, sessionId).post(toolsList())).status).toBe(200);
    const deleted = await mcp(nodes.b, key, sessionId).delete();
    expect(deleted.status).toBe(200);
    expect(await nodes.redis.exists(`${nodes.prefix}:mcp:session:${sessionId}`)).toBe(0);
    const onA = await mcp(nodes.a, key, sessionId).post(readCall(5, "after-delete"));
    expect(onA.status).toBe(404);
    expect(await onA.json()).toMatchObject({ code: "MCP_SESSION_NOT_FOUND" });
    expect((await mcp(nodes.b, key, sessionId).post(toolsList())).status).toBe(404);
  });

  it("DELETE on B closes A's copy at once: A's open GET stream of the session ends, A is never called", async () => {
    const sessionId = await initialize(nodes.a, key);
    const stream = await fetch(`${nodes.a.url}/mcp/agents/${UAPK}`, {
      headers: {
        ...key,
        accept: "text/event-stream",
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-03-26",
      },
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    const ended = (async () => {
      while (!(await reader.read()).done);
      return "ended";
    })().catch(() => "ended");
    expect((await mcp(nodes.b, key, sessionId).delete()).status).toBe(200);
    // The sweep would close it only after min(idle/2, 60 s): the event closes it now.
    const timeout = new Promise((r) => setTimeout(() => r("still open"), 3_000));
    expect(await Promise.race([ended, timeout])).toBe("ended");
    await reader.cancel().catch(() => undefined);
  });

  it("DELETE with an unsupported Mcp-Protocol-Version is refused (400 problem+json) on a node without a copy too", async () => {
    const sessionId = await initialize(nodes.a, key);
    for (const node of [nodes.b, nodes.a]) {
      const refused = await fetch(`${node.url}/mcp/agents/${UAPK}`, {
        method: "DELETE",
        headers: { ...key, "mcp-session-id": sessionId, "mcp-protocol-version": "1999-01-01" },
      });
      expect(refused.status).toBe(400);
      expect(refused.headers.get("content-type")).toContain("application/problem+json");
      expect(await refused.json()).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
      expect(await nodes.redis.exists(`${nodes.prefix}:mcp:session:${sessionId}`)).toBe(1);
    }
    expect((await mcp(nodes.b, key, sessionId).post(toolsList())).status).toBe(200);
  });

  it("DELETE on the node that holds it (B, rebuilt there) ends it on A too", async () => {
    const sessionId = await initialize(nodes.a, key);
    expect((await mcp(nodes.b, key, sessionId).post(toolsList())).status).toBe(200);
    expect((await mcp(nodes.b, key, sessionId).delete()).status).toBe(200);
    expect((await mcp(nodes.a, key, sessionId).post(toolsList())).status).toBe(404);
    expect((await mcp(nodes.b, key, sessionId).post(toolsList())).status).toBe(404);
  });

  it("the node that opened a session stops: the session goes on on another node", async () => {
    const env = { ...store.env, REDIS_URL: TEST_REDIS_URL, GATEHOUSE_REDIS_PREFIX: nodes.prefix };
    const c = await startTestGatehouse({ env });
    let sessionId: string;
    try {
      sessionId = await initialize(c, key);
      expect((await mcp(c, key, sessionId).post(toolsList())).status).toBe(200);
    } finally {
      await c.dispose();
    }
    expect((await mcp(nodes.b, key, sessionId).post(readCall(8, "after-stop"))).status).toBe(200);
  });

  it("requests of one session reaching B together rebuild it once and are all answered", async () => {
    const sessionId = await initialize(nodes.a, key);
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => mcp(nodes.b, key, sessionId).post(toolsList(10 + i))),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const ids = await Promise.all(answers.map(async (a) => ((await a.json()) as { id: number }).id));
    expect(ids).toEqual([10, 11, 12, 13, 14]);
  });
});

describe.runIf(runRedis)("MCP sessions shared through Redis: the bounds", () => {
  let nodes: TwoNodes;
  let key: Credential;

  beforeAll(async () => {
    nodes = await startTwoNodes({ GATEHOUSE_MCP_MAX_SESSIONS: "1" });
    await registerManifest(nodes.a, manifest(UAPK));
    key = { "x-api-key": nodes.a.apiKey };
  });
  afterAll(async () => nodes?.dispose());

  it("a session rebuilt on B takes a place in B's pool: its caller's other copy there gives way, and is rebuilt when used", async () => {
    const openedOnA = await initialize(nodes.a, key);
    const openedOnB = await initialize(nodes.b, key);
    // B's pool (of 1) holds the caller's other session: its own least recently used one gives way (before: 503
    // MCP_SESSIONS_FULL until it went idle); a copy that gave way lives on in its record, so each is served again.
    expect((await mcp(nodes.b, key, openedOnA).post(toolsList())).status).toBe(200);
    expect((await mcp(nodes.b, key, openedOnB).post(toolsList())).status).toBe(200);
    expect((await mcp(nodes.b, key, openedOnA).post(toolsList())).status).toBe(200);
    // Still served where it is held.
    expect((await mcp(nodes.a, key, openedOnA).post(toolsList())).status).toBe(200);
  });

  it("initialize params too large to share (over 64 KiB) are refused with 400, and no session is opened", async () => {
    const huge = {
      ...INITIALIZE,
      params: { ...INITIALIZE.params, clientInfo: { name: "x".repeat(70_000), version: "1" } },
    };
    const refused = await mcp(nodes.a, key).post(huge);
    expect(refused.status).toBe(400);
    expect(refused.headers.get("mcp-session-id")).toBeNull();
    expect(await refused.json()).toMatchObject({ code: "VALIDATION_FAILED" });
    expect(await nodes.redis.keys(`${nodes.prefix}:mcp:session:*`)).toHaveLength(2);
  });
});

describe("MCP sessions on two nodes without Redis", () => {
  let a: TestGatehouse;
  let b: TestGatehouse;
  const store = openSharedSqliteStore();

  beforeAll(async () => {
    a = await startTestGatehouse({ env: store.env });
    b = await startTestGatehouse({ env: store.env });
    await registerManifest(a, manifest(UAPK));
  });
  afterAll(async () => {
    await Promise.all([a?.dispose(), b?.dispose()]);
    await store.dispose();
  });

  it("a session opened on A is unknown on B (404): each node serves the sessions it opened", async () => {
    const key = { "x-api-key": a.apiKey };
    const sessionId = await initialize(a, key);
    const onB = await mcp(b, key, sessionId).post(toolsList());
    expect(onB.status).toBe(404);
    expect(await onB.json()).toMatchObject({ code: "MCP_SESSION_NOT_FOUND" });
    expect((await mcp(a, key, sessionId).post(toolsList())).status).toBe(200);
  });
});
