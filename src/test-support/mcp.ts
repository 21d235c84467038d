// Shared by the MCP end-to-end tests, and by other faces' tests that call through MCP (a face's tests may not import
// another face's): a governed agent manifest for a real Gatehouse, and SDK clients.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { API_KEY } from "./gatehouse";
import { registerManifest, type Caller } from "./http";

export const UAPK = "mcp-bot";

/** email:send (echo), crm:delete (needs an approval), noop:ping; recipients on *@blocked.example are refused. */
export const MCP_BOT_MANIFEST = {
  uapk_id: UAPK,
  agent: { id: UAPK, name: "MCP Bot" },
  capabilities: ["email:send", "crm:delete", "noop:ping"],
  constraints: { max_actions_per_hour: 100_000, require_human_approval: ["crm:delete"] },
  policy: { counterparty_blocklist: ["*@blocked.example"] },
  tools: {
    "email:send": { description: "Send an email", connector: { type: "echo" } },
    "crm:delete": { connector: { type: "echo" } },
    "noop:ping": { connector: { type: "noop" } },
  },
};

export async function registerMcpBot(g: Caller): Promise<void> {
  await registerManifest(g, MCP_BOT_MANIFEST);
}

export async function mcpClient(
  url: string,
  headers: Record<string, string> = { "X-API-Key": API_KEY },
): Promise<Client> {
  const client = new Client({ name: "gatehouse-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}
