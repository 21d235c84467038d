// REST's rate limits hold over MCP too (review R23b, F1): with GATEHOUSE_RATE_LIMIT_PER_AGENT=10, 30 REST executes of
// one agent were 10 ALLOW and 20 × 429, but 30 MCP tools/call of the same agent all ran. Every tools/call now
// counts against the caller's API key, and a governed one against its agent's actions: one budget for both doors.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, registerManifest } from "../../../test-support/http";
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
      env: { GATEHOUSE_RATE_LIMIT_PER_API_KEY: "4", GATEHOUSE_RATE_LIMIT_PER_AGENT: "0" },
    });
  });
  afterAll(async () => g?.dispose());

  it("counts every tools/call of the key (approval status, puruto commands) with its REST requests", async () => {
    const client = await botSession(g, "key-limited");
    const purutos = await mcpClient(`${g.url}/mcp/purutos`);
    opened.push(purutos);
    expect(structured(await ping(client))).toMatchObject({ status: "executed" });
    const status = await client.callTool({ name: "gatehouse_approval_status", arguments: { approval_id: "appr-x" } });
    expect(structured(status)).toMatchObject({ code: "APPROVAL_NOT_FOUND" });
    expect((await restPing(g, "key-limited")).status).toBe(200);
    const balance = await purutos.callTool({ name: "puruto-financial_balance", arguments: { account: "main" } });
    expect(balance.isError).toBe(false);
    // Four requests of the key so far: each door is now refused.
    expect(structured(await ping(client))).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    const statusAgain = await client.callTool({ name: "gatehouse_approval_status", arguments: { approval_id: "x" } });
    expect(structured(statusAgain)).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    const balanceAgain = await purutos.callTool({ name: "puruto-financial_balance", arguments: { account: "main" } });
    expect(structured(balanceAgain)).toMatchObject({ code: "RATE_LIMIT_EXCEEDED" });
    expect((await restPing(g, "key-limited")).status).toBe(429);
  });
});
