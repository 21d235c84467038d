// The node's pool of open MCP sessions is shared: one credential that keeps opening sessions cannot fill it and
// lock every other caller out (503) until its sessions go idle.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRunRedisTests, TEST_REDIS_URL } from "../../../core/events/redis-availability";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { registerMcpBot, UAPK } from "../../../test-support/mcp";

const POOL = 3;
let g: TestGatehouse;

beforeAll(async () => {
  g = await startTestGatehouse({ env: { GATEHOUSE_MCP_MAX_SESSIONS: String(POOL) } });
  await registerMcpBot(g);
});

afterAll(async () => {
  await g?.dispose();
});

function post(credential: Record<string, string>, body: unknown, sessionId?: string, on: TestGatehouse = g) {
  return fetch(`${on.url}/mcp/agents/${UAPK}`, {
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

const initialize = (credential: Record<string, string>, on: TestGatehouse = g) =>
  post(
    credential,
    {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "pool", version: "1" } },
    },
    undefined,
    on,
  );

async function openSession(credential: Record<string, string>): Promise<string> {
  const response = await initialize(credential);
  expect(response.status).toBe(200);
  await response.body?.cancel();
  return response.headers.get("mcp-session-id")!;
}

const toolsList = (credential: Record<string, string>, sessionId: string, on: TestGatehouse = g) =>
  post(credential, { jsonrpc: "2.0", id: 2, method: "tools/list" }, sessionId, on);

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

    // The credential with the most sessions cannot take a fair share back from the others, nor is it locked out
    // (503 until its sessions go idle): its own least recently used session gives way.
    const again = await openSession(agent);
    expect((await toolsList(agent, again)).status).toBe(200);
    expect((await toolsList(agent, held[1]!)).status).toBe(404);
    expect((await toolsList(agent, held[2]!)).status).toBe(200);
    expect((await toolsList(person, theirs)).status).toBe(200);
  });

  it("a caller holding as many sessions as anyone gives up its own least recently used one, never another's", async () => {
    const fresh = await startTestGatehouse({ env: { GATEHOUSE_MCP_MAX_SESSIONS: String(POOL) } });
    try {
      await registerMcpBot(fresh);
      const bearer = async (sub: string) => ({
        authorization: `Bearer ${await fresh.userTokenFor(fresh.orgId, sub, ["operator"])}`,
      });
      // Three credentials, one session each: the pool is full and no one holds more than another.
      const callers = [{ "x-api-key": fresh.apiKey }, await bearer("one@pool"), await bearer("two@pool")];
      const held: string[] = [];
      for (const caller of callers) {
        const response = await initialize(caller, fresh);
        expect(response.status).toBe(200);
        await response.body?.cancel();
        held.push(response.headers.get("mcp-session-id")!);
      }
      const last = callers[2]!;
      const second = await initialize(last, fresh);
      await second.body?.cancel();
      expect(second.status).toBe(200);
      expect((await toolsList(last, second.headers.get("mcp-session-id")!, fresh)).status).toBe(200);
      expect((await toolsList(last, held[2]!, fresh)).status).toBe(404);
      for (const i of [0, 1]) expect((await toolsList(callers[i]!, held[i]!, fresh)).status).toBe(200);
    } finally {
      await fresh.dispose();
    }
  });

  // Room is taken when it is granted, not when the session is registered: between the two a shared session's record
  // is written to Redis (and the manifest looked up, the SDK connected), so a burst of initializes saw the same free
  // slots and every one of them opened a session (12 of 12 with Redis, pool of 3).
  it.each([
    ["in this node's memory", async () => ({})],
    [
      "shared through Redis",
      async () => ({ REDIS_URL: TEST_REDIS_URL, GATEHOUSE_REDIS_PREFIX: `pool-${randomUUID()}:` }),
    ],
  ])("initializes arriving together never open more sessions than the pool holds (%s)", async (_, envOf) => {
    const extra: Record<string, string> = await envOf();
    if (extra.REDIS_URL && !(await shouldRunRedisTests("MCP session pool, shared"))) return;
    const fresh = await startTestGatehouse({ env: { GATEHOUSE_MCP_MAX_SESSIONS: String(POOL), ...extra } });
    try {
      await registerMcpBot(fresh);
      const burst = { "x-api-key": fresh.apiKey };
      const answers = await Promise.all(Array.from({ length: POOL * 4 }, () => initialize(burst, fresh)));
      const statuses = answers.map((a) => a.status);
      for (const a of answers) await a.body?.cancel();
      const opened = answers.filter((a) => a.status === 200).map((a) => a.headers.get("mcp-session-id")!);
      expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
      expect(opened.length).toBeGreaterThanOrEqual(POOL);
      // One credential's later sessions may take the place of its earlier ones (its own least recently used give
      // way), but no more than the pool holds are ever open: in memory, exactly POOL of those it was told about
      // work. Shared, a session that gave way here is rebuilt from its record when used (taking another's place).
      const working: string[] = [];
      for (const id of opened) if ((await toolsList(burst, id, fresh)).status === 200) working.push(id);
      expect(working).toHaveLength(extra.REDIS_URL ? opened.length : POOL);
    } finally {
      await fresh.dispose();
    }
  });
});

// Each session's SDK Server keeps the client's capabilities and clientInfo as long as it lives: without Redis they
// had no bound (200 sessions of ~930 KB capabilities raised the heap by 260 MB), the 64 KiB one applied only to the
// records shared through Redis.
describe("the initialize params a session keeps", () => {
  // A person holding no session yet: the pool (full after the tests above) makes room for them.
  const initializeWith = async (capabilities: object) =>
    post(
      { authorization: `Bearer ${await g.userTokenFor(g.orgId, "dev@big-initialize", ["operator"])}` },
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-03-26", capabilities, clientInfo: { name: "big", version: "1" } },
      },
    );

  it("over 64 KiB are refused with 400 VALIDATION_FAILED without Redis too, and open no session", async () => {
    const refused = await initializeWith({ experimental: { blob: { data: "x".repeat(65 * 1024) } } });
    expect(refused.status).toBe(400);
    expect(refused.headers.get("mcp-session-id")).toBeNull();
    expect(await refused.json()).toMatchObject({ code: "VALIDATION_FAILED" });

    const small = await initializeWith({ experimental: { blob: { data: "x".repeat(1024) } } });
    expect(small.status).toBe(200);
    await small.body?.cancel();
  });
});
