// What an MCP agent session may see (review R15, F6): initialize opens a session only on an active manifest of the
// caller's org and only with a session capability token that verifies for that agent (403 problem+json
// otherwise); tools/list shows only what the manifest's state and the session's token allow. Listing is a
// convenience: the policy still decides every call, a tool not listed included.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { operator, registerManifest } from "../../../test-support/http";
import { MCP_BOT_MANIFEST, mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";

const OTHER = "mcp-other-bot";
const PAUSED = "mcp-paused-bot";
const ORG_B = "org-b-mcp-scope";

let g: TestGatehouse;
let keyB: string;
const opened: Client[] = [];
const endpoint = (uapk = UAPK) => `${g.url}/mcp/agents/${uapk}`;

const manifestOf = (uapk: string) => ({ ...MCP_BOT_MANIFEST, uapk_id: uapk, agent: { id: uapk, name: uapk } });

async function issue(capabilities: string[], uapk = UAPK): Promise<{ token: string; token_id: string }> {
  const issued = await operator(g).post("/capability-tokens", { agent_id: uapk, uapk_id: uapk, capabilities });
  if (issued.status !== 201) throw new Error(`token not issued: ${issued.status} ${issued.text}`);
  return issued.body;
}

beforeAll(async () => {
  g = await startTestGatehouse();
  await registerMcpBot(g);
  await registerManifest(g, manifestOf(OTHER));
  const paused = await registerManifest(g, manifestOf(PAUSED));
  expect((await operator(g).post(`/manifests/${paused.body.manifest_id}/suspend`)).status).toBe(200);
  keyB = (await g.apiKeys.create(ORG_B, "org B agent")).key;
});

afterAll(async () => {
  for (const c of opened) await c.close();
  await g?.dispose();
});

async function session(headers: Record<string, string> = {}, uapk = UAPK): Promise<Client> {
  const client = await mcpClient(endpoint(uapk), { "X-API-Key": g.apiKey, ...headers });
  opened.push(client);
  return client;
}

/** An initialize as a client without the SDK sends it: the raw HTTP answer. */
function initialize(headers: Record<string, string>, uapk = UAPK): Promise<Response> {
  return fetch(endpoint(uapk), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
    }),
  });
}

async function expectRefusedToken(token: string, reason: string): Promise<void> {
  const response = await initialize({ "X-API-Key": g.apiKey, "X-Capability-Token": token });
  expect(response.status).toBe(403);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  const problem = (await response.json()) as { code: string; errors: { pointer: string; message: string }[] };
  expect(problem.code).toBe("CAPABILITY_TOKEN_REFUSED");
  expect(problem.errors[0]).toMatchObject({ pointer: "/headers/x-capability-token" });
  expect(problem.errors[0]!.message.startsWith(`${reason}:`)).toBe(true);
}

const names = async (client: Client) => (await client.listTools()).tools.map((t) => t.name).sort();
const structured = (r: unknown) => (r as { structuredContent?: Record<string, unknown> }).structuredContent!;

describe("MCP session scope: the capability token of the session", () => {
  it("tools/list shows only the token's capabilities; the policy still decides a call of another tool", async () => {
    const { token } = await issue(["email:send"]);
    const client = await session({ "X-Capability-Token": token });
    expect(await names(client)).toEqual(["email_send", "gatehouse_approval_status"]);
    const ping = await client.callTool({ name: "noop_ping", arguments: { params: {} } });
    expect(ping.isError).toBe(true);
    expect(structured(ping)).toMatchObject({ status: "denied", reasons: [{ code: "CAPABILITY_MISSING" }] });
    const send = await client.callTool({ name: "email_send", arguments: { params: { to: "ann@example.com" } } });
    expect(structured(send)).toMatchObject({ status: "executed" });
  });

  it("initialize refuses a token that is not one (403 CAPABILITY_TOKEN_REFUSED), and the SDK client fails to connect", async () => {
    await expectRefusedToken("garbage", "INVALID_TOKEN");
    await expectRefusedToken("eyJhbGciOiJub25lIn0.eyJzdWIiOiJtY3AtYm90In0.", "INVALID_TOKEN");
    await expect(session({ "X-Capability-Token": "garbage" })).rejects.toThrow(/403/);
  });

  it("initialize refuses a revoked token, another agent's and another org's", async () => {
    const revoked = await issue(["email:send"]);
    expect((await operator(g).post(`/capability-tokens/${revoked.token_id}/revoke`, {})).status).toBe(200);
    await expectRefusedToken(revoked.token, "TOKEN_REVOKED");
    await expectRefusedToken((await issue(["email:send"], OTHER)).token, "INVALID_TOKEN");
    const tokenB = await g.userTokenFor(ORG_B, "bob@org-b", ["operator"]);
    const inB = await fetch(`${g.url}/api/v1/orgs/${ORG_B}/manifests`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokenB}`, "content-type": "application/json" },
      body: JSON.stringify(MCP_BOT_MANIFEST),
    });
    expect([200, 201]).toContain(inB.status);
    const issuedB = await fetch(`${g.url}/api/v1/orgs/${ORG_B}/capability-tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokenB}`, "content-type": "application/json" },
      body: JSON.stringify({ agent_id: UAPK, uapk_id: UAPK, capabilities: ["email:send", "crm:delete"] }),
    });
    expect(issuedB.status).toBe(201);
    await expectRefusedToken(((await issuedB.json()) as { token: string }).token, "INVALID_TOKEN");
  });

  it("a token revoked while its session is open: tools/list shows no manifest tool, and its calls are denied", async () => {
    const issued = await issue(["email:send", "noop:ping"]);
    const client = await session({ "X-Capability-Token": issued.token });
    expect(await names(client)).toEqual(["email_send", "gatehouse_approval_status", "noop_ping"]);
    expect((await operator(g).post(`/capability-tokens/${issued.token_id}/revoke`, {})).status).toBe(200);
    expect(await names(client)).toEqual(["gatehouse_approval_status"]);
    const ping = await client.callTool({ name: "noop_ping", arguments: { params: {} } });
    expect(structured(ping)).toMatchObject({ status: "denied", reasons: [{ code: "TOKEN_REVOKED" }] });
  });
});

describe("MCP session scope: the manifest", () => {
  it("initialize on a suspended manifest is refused 403 MANIFEST_INACTIVE", async () => {
    const response = await initialize({ "X-API-Key": g.apiKey }, PAUSED);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "MANIFEST_INACTIVE" });
  });

  it("a manifest suspended while a session is open lists no manifest tool; its calls are denied", async () => {
    const registered = await registerManifest(g, manifestOf("mcp-soon-paused"));
    const client = await session({}, "mcp-soon-paused");
    expect(await names(client)).toContain("email_send");
    expect((await operator(g).post(`/manifests/${registered.body.manifest_id}/suspend`)).status).toBe(200);
    expect(await names(client)).toEqual(["gatehouse_approval_status"]);
    const send = await client.callTool({ name: "email_send", arguments: { params: { to: "ann@example.com" } } });
    expect(structured(send)).toMatchObject({ status: "denied", reasons: [{ code: "MANIFEST_INACTIVE" }] });
  });

  it("another org's key cannot open a session on this org's manifest (404), nor see its tools", async () => {
    const response = await initialize({ "X-API-Key": keyB }, OTHER);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "MANIFEST_NOT_FOUND" });
  });
});
