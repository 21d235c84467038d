// Tool names MCP clients accept: the model APIs behind them refuse a tool name over 64 characters or outside
// [A-Za-z0-9_-], and a client then drops the whole server. A manifest whose uapk_id and capabilities are long and
// hold dots and colons still lists only valid, unique names, and each listed name runs its own capability.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { operator, registerManifest } from "../../../test-support/http";
import { mcpToolNames } from "../tool-names";
import { mcpClient } from "../../../test-support/mcp";

const VALID_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const UAPK = `acme.support:eu-west-1.${"very-long-agent-name.".repeat(4)}v2`;
const LONG_TOOL = `refund_customer_order_after_manual_review_${"x".repeat(60)}`;
const CAPABILITIES = [
  "email:send",
  `crm.eu:records.delete.${"y".repeat(40)}`,
  `payments:${LONG_TOOL}`,
  `payments:${LONG_TOOL}.v2`,
  "crm_a:b", // sanitizes to the same name as the next one
  "crm:a_b",
  "gatehouse:approval_status", // would take the built-in tool's name
];

let g: TestGatehouse;
let client: Client;

beforeAll(async () => {
  g = await startTestGatehouse();
  await registerManifest(g, {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Long Bot" },
    capabilities: CAPABILITIES,
    constraints: { max_actions_per_hour: 1000 },
    tools: Object.fromEntries(CAPABILITIES.map((c) => [c, { connector: { type: "echo" } }])),
  });
  client = await mcpClient(`${g.url}/mcp/agents/${encodeURIComponent(UAPK)}`);
});

afterAll(async () => {
  await client?.close();
  await g?.dispose();
});

describe("MCP tool names", () => {
  it("lists only names of at most 64 characters of [A-Za-z0-9_-], each once", async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toHaveLength(CAPABILITIES.length + 1);
    for (const name of names) expect(name).toMatch(VALID_NAME);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("email_send");
    expect(names).toContain("gatehouse_approval_status");
  });

  it("each listed name runs the capability it was listed for (its title)", async () => {
    const { tools } = await client.listTools();
    for (const tool of tools.filter((t) => t.name !== "gatehouse_approval_status")) {
      const result = await client.callTool({ name: tool.name, arguments: { params: { marker: tool.name } } });
      expect(result.isError, JSON.stringify(result.structuredContent)).toBe(false);
      const interactionId = (result.structuredContent as { interaction_id: string }).interaction_id;
      const records = await operator(g).get(`/interactions?agent_id=${encodeURIComponent(UAPK)}&limit=500`);
      const action = (records.body.items as { interaction_id: string; action: { type: string; tool: string } }[]).find(
        (r) => r.interaction_id === interactionId,
      )!.action;
      expect(`${action.type}:${action.tool}`).toBe(tool.title);
    }
  });

  it("names are the same in every session (deterministic), and the built-in tool answers its name", async () => {
    const again = await mcpClient(`${g.url}/mcp/agents/${encodeURIComponent(UAPK)}`);
    try {
      const first = (await client.listTools()).tools.map((t) => t.name);
      expect((await again.listTools()).tools.map((t) => t.name)).toEqual(first);
      const status = await again.callTool({ name: "gatehouse_approval_status", arguments: { approval_id: "appr-x" } });
      expect(status.structuredContent).toMatchObject({ code: "APPROVAL_NOT_FOUND" });
    } finally {
      await again.close();
    }
  });
});

describe("MCP tool names and a session's capability token (review R15)", () => {
  it("a token of one of two look-alike capabilities lists that one only; the other's name is denied", async () => {
    const issued = await operator(g).post("/capability-tokens", {
      agent_id: UAPK,
      uapk_id: UAPK,
      capabilities: ["crm:a_b"],
    });
    expect(issued.status, issued.text).toBe(201);
    const scoped = await mcpClient(`${g.url}/mcp/agents/${encodeURIComponent(UAPK)}`, {
      "X-API-Key": g.apiKey,
      "X-Capability-Token": issued.body.token,
    });
    try {
      const all = (await client.listTools()).tools;
      const lookAlike = all.find((t) => t.title === "crm_a:b")!;
      const listed = (await scoped.listTools()).tools.filter((t) => t.name !== "gatehouse_approval_status");
      expect(listed.map((t) => t.title)).toEqual(["crm:a_b"]);
      const other = await scoped.callTool({ name: lookAlike.name, arguments: { params: {} } });
      expect(other.structuredContent).toMatchObject({ status: "denied", reasons: [{ code: "CAPABILITY_MISSING" }] });
    } finally {
      await scoped.close();
    }
  });
});

describe("mcpToolNames", () => {
  it("keeps a valid unique name, hashes long, shared and reserved ones, and never repeats a name", () => {
    const names = mcpToolNames(
      [
        { name: "email.send", identity: "email:send" },
        { name: "a.b", identity: "a:b" },
        { name: "a_b", identity: "a_b" },
        { name: "x".repeat(65), identity: "long" },
        { name: "ünïcödé.tool", identity: "unicode" },
        { name: "reserved", identity: "r" },
      ],
      new Set(["reserved"]),
    );
    expect(names[0]).toBe("email_send");
    expect(names[1]).toMatch(/^a_b_[0-9a-f]{8}$/);
    expect(names[2]).toMatch(/^a_b_[0-9a-f]{8}$/);
    expect(names[3]).toHaveLength(64);
    for (const name of names) expect(name).toMatch(VALID_NAME);
    expect(new Set([...names, "reserved"]).size).toBe(names.length + 1);
  });
});
