// REST's rate limits hold over MCP too (review R23b, F1): with GATEHOUSE_RATE_LIMIT_PER_AGENT=10, 30 REST executes of
// one agent were 10 ALLOW and 20 × 429, but 30 MCP tools/call of the same agent all ran. Every tools/call now
// counts against the caller's API key, and a governed one against its agent's actions: one budget for both doors.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { API_KEY, agent, executeBody, registerManifest } from "../../../test-support/http";
import { MCP_BOT_MANIFEST, mcpClient } from "../../../test-support/mcp";

const structured = (r: unknown) => (r as { structuredContent?: Record<string, unknown> }).structuredContent!;
const opened: Client[] = [];

async function botSession(g: TestGatehouse, uapkId: string): Promise<Client> {
  await registerManifest(g, { ...MCP_BOT_MANIFEST, uapk_id: uapkId, agent: { id: uapkId, name: uapkId } });
  const client = await mcpClient(`${g.url}/mcp/agents/${uapkId}`);
  opened.push(client);
  return client;
}

// The bot's blocklist needs the counterparty named (else COUNTERPARTY_UNVERIFIABLE).
const counterparty = "a@ok.example";
const ping = (client: Client) => client.callTool({ name: "noop_ping", arguments: { params: {}, counterparty } });
const restPing = (g: TestGatehouse, uapkId: string) =>
  agent(g).post("/api/v1/gateway/execute", executeBody(uapkId, { type: "noop", tool: "ping", counterparty }));

afterAll(async () => {
  for (const c of opened) await c.close();
});

/**
 * An SDK client whose transport opens no GET event stream (answered 405 on the client's side, which the SDK takes as
 * "no stream"): the stream is opened in the background after connect, so the requests a test counts would race it.
 */
async function countedClient(url: string): Promise<Client> {
  const client = new Client({ name: "rate-limits", version: "1" });
  const noGet: typeof fetch = (input, init) =>
    init?.method === "GET" ? Promise.resolve(new Response(null, { status: 405 })) : fetch(input, init);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { "X-API-Key": API_KEY } },
      fetch: noGet,
    }),
  );
  opened.push(client);
  return client;
}

describe("the per-agent rate limit over MCP", () => {
  let g: TestGatehouse;
  beforeAll(async () => {
    g = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_PER_AGENT: "5" } });
  });
  afterAll(async () => g?.dispose());

  it("refuses the agent's sixth MCP call RATE_LIMIT_EXCEEDED, with when to retry; nothing runs", async () => {
    const client = await botSession(g, "limited-mcp");
    for (let i = 0; i < 5; i++) expect(structured(await ping(client))).toMatchObject({ status: "executed" });
    const sixth = await ping(client);
    expect(sixth.isError).toBe(true);
    expect(structured(sixth)).toMatchObject({ status: "refused", code: "RATE_LIMIT_EXCEEDED" });
    expect(structured(sixth).retry_after_seconds).toBeGreaterThanOrEqual(1);
    expect(structured(sixth)).not.toHaveProperty("interaction_id");
    // Another agent of the same key has its own budget.
    expect(structured(await ping(await botSession(g, "other-mcp")))).toMatchObject({ status: "executed" });
  });

  it("REST and MCP share the agent's budget, whichever door comes first", async () => {
    const client = await botSession(g, "limited-both");
    for (let i = 0; i < 3; i++) expect((await restPing(g, "limited-both")).status).toBe(200);
    for (let i = 0; i < 2; i++) expect(structured(await ping(client))).toMatchObject({ status: "executed" });
    expect(structured(await ping(client))).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    const rest = await restPing(g, "limited-both");
    expect(rest.status).toBe(429);
    expect(rest.body).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
  });
});

describe("the per-API-key rate limit over MCP", () => {
  let g: TestGatehouse;
  beforeAll(async () => {
    g = await startTestGatehouse({
      env: { GATEHOUSE_RATE_LIMIT_PER_API_KEY: "8", GATEHOUSE_RATE_LIMIT_PER_AGENT: "0" },
    });
  });
  afterAll(async () => g?.dispose());

  it("counts every tools/call of the key (approval status, puruto commands) with its REST requests", async () => {
    await registerManifest(g, { ...MCP_BOT_MANIFEST, uapk_id: "key-limited", agent: { id: "key-limited", name: "k" } });
    // Each connect is two requests of the key (initialize, notifications/initialized; no GET stream).
    const client = await countedClient(`${g.url}/mcp/agents/key-limited`);
    const purutos = await countedClient(`${g.url}/mcp/purutos`);
    expect(structured(await ping(client))).toMatchObject({ status: "executed" });
    const status = await client.callTool({ name: "gatehouse_approval_status", arguments: { approval_id: "appr-x" } });
    expect(structured(status)).toMatchObject({ code: "APPROVAL_NOT_FOUND" });
    expect((await restPing(g, "key-limited")).status).toBe(200);
    const balance = await purutos.callTool({ name: "puruto-financial_balance", arguments: { account: "main" } });
    expect(balance.isError).toBe(false);
    // Eight requests of the key so far: each door is now refused.
    expect(structured(await ping(client))).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    const statusAgain = await client.callTool({ name: "gatehouse_approval_status", arguments: { approval_id: "x" } });
    expect(structured(statusAgain)).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    const balanceAgain = await purutos.callTool({ name: "puruto-financial_balance", arguments: { account: "main" } });
    expect(structured(balanceAgain)).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    expect((await restPing(g, "key-limited")).status).toBe(429);
  });
});

// initialize, tools/list and ping did not count against the key (REST's GETs do): a key could flood them, each
// opening a session or reading the manifest. Every MCP request of a key now counts; over the limit a JSON-RPC request
// is answered a JSON-RPC error naming the limit and when to retry, what carries none a 429 problem+json.
describe("the per-API-key rate limit over every MCP request", () => {
  let g: TestGatehouse;
  const url = () => `${g.url}/mcp/agents/key-flood`;
  const post = (body: unknown, sessionId?: string, headers: Record<string, string> = { "x-api-key": g.apiKey }) =>
    fetch(url(), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-03-26",
        ...headers,
        ...(sessionId ? { "mcp-session-id": sessionId } : {}),
      },
      body: JSON.stringify(body),
    });
  const initialize = (headers?: Record<string, string>) =>
    post(
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "flood", version: "1" } },
      },
      undefined,
      headers,
    );
  const limitError = (id: number) => ({
    jsonrpc: "2.0",
    id,
    error: {
      code: -32000,
      message: expect.stringMatching(/^RATE_LIMIT_EXCEEDED: .*retry after \d+ s$/),
      data: { code: "RATE_LIMIT_EXCEEDED", retry_after_seconds: expect.any(Number) },
    },
  });

  beforeAll(async () => {
    g = await startTestGatehouse({
      env: { GATEHOUSE_RATE_LIMIT_PER_API_KEY: "4", GATEHOUSE_RATE_LIMIT_PER_AGENT: "0" },
    });
    await registerManifest(g, { ...MCP_BOT_MANIFEST, uapk_id: "key-flood", agent: { id: "key-flood", name: "f" } });
  });
  afterAll(async () => g?.dispose());

  it("counts initialize, tools/list and ping with the key's REST requests; over it each is a JSON-RPC error", async () => {
    const opened = await initialize();
    expect(opened.status).toBe(200);
    await opened.body?.cancel();
    const session = opened.headers.get("mcp-session-id")!;
    expect(await (await post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, session)).json()).toHaveProperty(
      "result",
    );
    expect(await (await post({ jsonrpc: "2.0", id: 3, method: "ping" }, session)).json()).toEqual({
      jsonrpc: "2.0",
      id: 3,
      result: {},
    });
    expect((await agent(g).get("/api/v1/gateway/approvals/appr-none")).status).toBe(404);

    // Four requests of the key: the next of any kind is refused, and says when to retry.
    const list = await post({ jsonrpc: "2.0", id: 4, method: "tools/list" }, session);
    expect(list.status).toBe(200);
    const refused = (await list.json()) as { error: { data: { retry_after_seconds: number } } };
    expect(refused).toMatchObject(limitError(4));
    expect(refused.error.data.retry_after_seconds).toBeGreaterThanOrEqual(1);
    expect(await (await post({ jsonrpc: "2.0", id: 5, method: "ping" }, session)).json()).toMatchObject(limitError(5));
    const batch = [
      { jsonrpc: "2.0", id: 6, method: "tools/list" },
      { jsonrpc: "2.0", id: 7, method: "ping" },
    ];
    expect(await (await post(batch, session)).json()).toEqual([limitError(6), limitError(7)]);
    // A governed call is still refused by its own handler, as a tool result.
    const call = await post(
      { jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "noop_ping", arguments: { params: {} } } },
      session,
    );
    expect(((await call.json()) as { result: unknown }).result).toMatchObject({
      isError: true,
      structuredContent: { code: "RATE_LIMIT_EXCEEDED" },
    });
    // A notification has no JSON-RPC answer: REST's 429.
    const note = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, session);
    expect(note.status).toBe(429);
    expect(Number(note.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await note.json()).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    expect((await agent(g).get("/api/v1/gateway/approvals/appr-none")).status).toBe(429);
  });

  it("an initialize over the limit opens no session; an SDK client sees the refusal with when to retry", async () => {
    const refused = await initialize();
    expect(refused.headers.get("mcp-session-id")).toBeNull();
    expect(await refused.json()).toMatchObject(limitError(1));
    const error = await mcpClient(url()).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toMatchObject({
      code: -32000,
      message: expect.stringContaining("RATE_LIMIT_EXCEEDED"),
      data: { code: "RATE_LIMIT_EXCEEDED" },
    });
  });

  it("a person's session (bearer token) is not an API key's: it is not refused", async () => {
    const person = await mcpClient(url(), {
      Authorization: `Bearer ${await g.userTokenFor(g.orgId, "ops@flood", ["operator"])}`,
    });
    opened.push(person);
    for (let i = 0; i < 6; i++) expect((await person.listTools()).tools.length).toBeGreaterThan(0);
  });
});
