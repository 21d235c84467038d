// JSON-RPC 2.0's error rules at the MCP endpoints, where the SDK (1.32) breaks them: an empty batch `[]` was
// answered 202 (JSON-RPC: one Invalid Request error, -32600), and a tools/call whose `arguments` is not an object
// (an array, a string, a number) was -32603 Internal error instead of -32602 Invalid params — the SDK's request
// parse throws before its own InvalidParams check. Raw HTTP here, as a hostile or sloppy client sends it.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { operator } from "../../../test-support/http";
import { mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";

let g: TestGatehouse;
let agents: Client;
let purutos: Client;

beforeAll(async () => {
  g = await startTestGatehouse();
  await registerMcpBot(g);
  agents = await mcpClient(`${g.url}/mcp/agents/${UAPK}`, { "X-API-Key": g.apiKey });
  purutos = await mcpClient(`${g.url}/mcp/purutos`, { "X-API-Key": g.apiKey });
});

afterAll(async () => {
  await agents?.close();
  await purutos?.close();
  await g?.dispose();
});

const sessionOf = (client: Client) => (client.transport as { sessionId?: string }).sessionId!;

/** A raw POST of `body` on the endpoint of `client`'s session (no session header when `client` is undefined). */
async function post(path: string, body: unknown, client?: Client, signal?: AbortSignal) {
  const response = await fetch(`${g.url}${path}`, {
    ...(signal ? { signal } : {}),
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "x-api-key": g.apiKey,
      "mcp-protocol-version": "2025-06-18",
      ...(client ? { "mcp-session-id": sessionOf(client) } : {}),
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  // An SSE answer: its data lines, each a JSON-RPC message.
  const messages = type.startsWith("text/event-stream")
    ? [...text.matchAll(/^data: (.+)$/gm)].map((m) => JSON.parse(m[1]!))
    : text
      ? [JSON.parse(text)].flat()
      : [];
  return { status: response.status, type, messages };
}

const call = (id: number, args: unknown, meta?: Record<string, unknown>) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "noop.ping", arguments: args, ...(meta ? { _meta: meta } : {}) },
});

describe("an empty JSON-RPC batch", () => {
  it.each([
    ["/mcp/agents/mcp-bot", () => agents],
    ["/mcp/purutos", () => purutos],
  ])("on %s is one Invalid Request error (-32600), not 202", async (path, client) => {
    for (const session of [client(), undefined]) {
      const answer = await post(path, [], session);

      expect(answer.status).toBe(400);
      expect(answer.type).toContain("application/json");
      expect(answer.messages).toEqual([
        { jsonrpc: "2.0", id: null, error: { code: -32600, message: "Invalid Request: empty batch" } },
      ]);
    }
  });
});

describe("tools/call with arguments that are not an object", () => {
  it.each([
    ["an array", []],
    ["an array of objects", [{ params: {} }]],
    ["a string", "params"],
    ["a number", 7],
    ["null", null],
  ])("answers Invalid params (-32602) when arguments is %s, the session still works after", async (_, args) => {
    const answer = await post(`/mcp/agents/${UAPK}`, call(41, args), agents);

    expect(answer.status).toBe(200);
    expect(answer.messages).toHaveLength(1);
    expect(answer.messages[0]).toMatchObject({ jsonrpc: "2.0", id: 41, error: { code: -32602 } });
    expect(answer.messages[0].error.message).toContain("arguments");
    expect((await agents.listTools()).tools.length).toBeGreaterThan(0);
  });

  it("answers -32602 on the SSE path too (a call that asks for progress) and on the purutos endpoint", async () => {
    const streamed = await post(`/mcp/agents/${UAPK}`, call(42, [], { progressToken: "p" }), agents);
    const onPurutos = await post(
      "/mcp/purutos",
      { ...call(43, []), params: { name: "puruto-data.status", arguments: [] } },
      purutos,
    );

    expect(streamed.type).toContain("text/event-stream");
    expect(streamed.messages).toEqual([
      expect.objectContaining({ id: 42, error: expect.objectContaining({ code: -32602 }) }),
    ]);
    expect(onPurutos.messages).toEqual([
      expect.objectContaining({ id: 43, error: expect.objectContaining({ code: -32602 }) }),
    ]);
  });

  it("answers each request of a batch: -32602 for the bad call, a result for the good one", async () => {
    const answer = await post(
      `/mcp/agents/${UAPK}`,
      [call(44, []), call(45, { params: {}, counterparty: "a@ok.example" })],
      agents,
    );

    const byId = new Map(answer.messages.map((m) => [m.id, m]));
    expect(byId.get(44)).toMatchObject({ error: { code: -32602 } });
    expect(byId.get(45)).toMatchObject({ result: { isError: false } });
  });

  it("answers -32602 to tools/list with a cursor that is not a string", async () => {
    const list = { jsonrpc: "2.0", id: 46, method: "tools/list", params: { cursor: 5 } };
    const answer = await post(`/mcp/agents/${UAPK}`, list, agents);

    expect(answer.messages).toEqual([
      expect.objectContaining({ id: 46, error: expect.objectContaining({ code: -32602 }) }),
    ]);
  });
});

describe("a body that is JSON but not JSON-RPC", () => {
  it.each([
    ["an object that is no message", { foo: 1 }],
    ["a request whose method is a number", { jsonrpc: "2.0", id: 1, method: 5 }],
    ["JSON-RPC 1.0", { jsonrpc: "1.0", id: 1, method: "tools/list" }],
    ["a request with array params", { jsonrpc: "2.0", id: 1, method: "tools/list", params: [] }],
    ["a batch holding a non-message", [{ jsonrpc: "2.0", id: 1, method: "tools/list" }, 7]],
  ])("is Invalid Request (-32600), not Parse error (-32700): %s", async (_, body) => {
    const answer = await post(`/mcp/agents/${UAPK}`, body, agents);

    expect(answer.status).toBe(400);
    expect(answer.messages).toEqual([
      { jsonrpc: "2.0", id: null, error: { code: -32600, message: "Invalid Request: not a JSON-RPC 2.0 message" } },
    ]);
  });
});

describe("a batch whose requests share an id", () => {
  it("is one Invalid Request (-32600), not an answer silently lost; distinct ids are each answered", async () => {
    const repeated = [
      { jsonrpc: "2.0", id: 7, method: "tools/list" },
      { jsonrpc: "2.0", id: 7, method: "ping" },
    ];
    const refused = await post(`/mcp/agents/${UAPK}`, repeated, agents);
    expect(refused.status).toBe(400);
    expect(refused.messages).toEqual([
      {
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: "Invalid Request: two requests of the batch have the same id" },
      },
    ]);

    const distinct = await post(`/mcp/agents/${UAPK}`, [repeated[0], { ...repeated[1], id: 8 }], agents);
    expect(new Set(distinct.messages.map((m) => m.id))).toEqual(new Set([7, 8]));
  });
});

describe("the size of a JSON-RPC batch", () => {
  const pings = (n: number, from: number) =>
    Array.from({ length: n }, (_, i) => ({ jsonrpc: "2.0", id: from + i, method: "ping" }));

  it("answers a batch of 100 messages, each; 101 are one Invalid Request (-32600, HTTP 400), none run", async () => {
    const full = await post(`/mcp/agents/${UAPK}`, pings(100, 1000), agents);
    expect(full.status).toBe(200);
    expect(full.messages).toHaveLength(100);

    const over = await post(`/mcp/agents/${UAPK}`, pings(101, 2000), agents);
    expect(over.status).toBe(400);
    expect(over.messages).toEqual([
      {
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: "Invalid Request: Batch must not exceed 100 messages" },
      },
    ]);
  });
});

describe("a batch over the SDK's limit of 100 messages", () => {
  const over = {
    jsonrpc: "2.0",
    id: null,
    error: { code: -32600, message: "Invalid Request: Batch must not exceed 100 messages" },
  };
  const pings = (n: number) => Array.from({ length: n }, (_, i) => ({ jsonrpc: "2.0", id: 5000 + i, method: "ping" }));

  // Refused before any of its messages is read (each was parsed with zod first, for the same refusal in the end):
  // whatever the messages hold, and whether or not a session is named, the answer is the SDK's.
  it.each([
    ["holding a message that is not JSON-RPC", [...pings(100), { method: 5 }], true],
    ["whose requests share an id", [...pings(100), { jsonrpc: "2.0", id: 5000, method: "ping" }], true],
    ["sent without a session", pings(101), false],
  ])("%s is the SDK's Invalid Request (-32600, HTTP 400)", async (_, batch, inSession) => {
    const answer = await post(`/mcp/agents/${UAPK}`, batch, inSession ? agents : undefined);
    expect(answer.status).toBe(400);
    expect(answer.messages).toEqual([over]);
  });
});

describe("the Content-Type of an MCP POST", () => {
  const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
  const postAs = (type: string) =>
    fetch(`${g.url}/mcp/agents/${UAPK}`, {
      method: "POST",
      headers: {
        "content-type": type,
        accept: "application/json, text/event-stream",
        "x-api-key": g.apiKey,
        "mcp-protocol-version": "2025-06-18",
        "mcp-session-id": sessionOf(agents),
      },
      body: ping,
    });

  it.each(["application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"])(
    "%s is a JSON-RPC request",
    async (type) => {
      const response = await postAs(type);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ jsonrpc: "2.0", id: 1, result: {} });
    },
  );

  it.each(["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/vnd.api+json"])(
    "%s is refused 415 problem+json before any JSON-RPC is read",
    async (type) => {
      const response = await postAs(type);
      expect(response.status).toBe(415);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      expect(await response.json()).toMatchObject({ code: "UNSUPPORTED_MEDIA_TYPE" });
    },
  );
});

describe("a request whose id is still being answered in the session", () => {
  const waitingCall = (id: number) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "crm.delete", arguments: { params: { id: "c-41" }, counterparty: "c41@ok.example" } },
  });

  const ping = { params: {}, counterparty: "a@ok.example" };

  it("is one Invalid Request (-32600) while the first waits; the id is free again once its caller left", async () => {
    // crm:delete waits for a person's approval: its POST stays open.
    const leave = new AbortController();
    const first = post(`/mcp/agents/${UAPK}`, waitingCall(141), agents, leave.signal).catch(() => "left");
    await expect
      .poll(async () => JSON.stringify((await operator(g).get("/approvals?status=pending")).body))
      .toContain("c-41");

    for (const reuse of [call(141, ping), [call(140, ping), call(141, ping)]]) {
      const refused = await post(`/mcp/agents/${UAPK}`, reuse, agents);
      expect(refused.status).toBe(400);
      expect(refused.messages).toEqual([
        {
          jsonrpc: "2.0",
          id: null,
          error: {
            code: -32600,
            message: "Invalid Request: a request of this session with the same id is still being answered",
          },
        },
      ]);
    }
    // Another session may use the same id.
    const otherSession = await post("/mcp/purutos", { jsonrpc: "2.0", id: 141, method: "ping" }, purutos);
    expect(otherSession.messages).toEqual([{ jsonrpc: "2.0", id: 141, result: {} }]);

    leave.abort();
    expect(await first).toBe("left");
    await expect
      .poll(async () => (await post(`/mcp/agents/${UAPK}`, call(141, ping), agents)).messages[0]?.result?.isError)
      .toBe(false);
  });
});
