// Idempotency keys over MCP (review R15, F3): the gateway adds the MCP session to the execute body's context, and
// that must not make a retry from a new session a "different request". A client that lost its session is exactly
// the one that retries; told IDEMPOTENCY_KEY_REUSED it retries with a new key, and the action runs twice.
// What the caller asked (tool, arguments) and for whom (the person of a bearer session) still count.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody } from "../../../test-support/http";
import { mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";

let g: TestGatehouse;
const endpoint = () => `${g.url}/mcp/agents/${UAPK}`;
const opened: Client[] = [];

beforeAll(async () => {
  g = await startTestGatehouse();
  await registerMcpBot(g);
});

afterAll(async () => {
  for (const c of opened) await c.close();
  await g?.dispose();
});

async function session(headers?: Record<string, string>): Promise<Client> {
  const client = await mcpClient(endpoint(), headers);
  opened.push(client);
  return client;
}

const structured = (r: unknown) => (r as { structuredContent?: Record<string, unknown> }).structuredContent!;

function send(client: Client, key: string, to = "ann@example.com") {
  return client.callTool({
    name: "email_send",
    arguments: { params: { to, subject: "Order 42" } },
    _meta: { idempotency_key: key },
  });
}

describe("MCP idempotency keys across sessions", () => {
  it("a retry from a new session replays the first answer (it does not run again, nor is it refused)", async () => {
    const first = structured(await send(await session(), "retry-key-42"));
    expect(first).toMatchObject({ status: "executed", decision: "ALLOW" });
    const sameSession = structured(await send(opened[0]!, "retry-key-42"));
    expect(sameSession).toMatchObject({ status: "executed", interaction_id: first.interaction_id });
    // The client lost its session: a new one, the same message.
    const newSession = structured(await send(await session(), "retry-key-42"));
    expect(newSession).toMatchObject({ status: "executed", interaction_id: first.interaction_id });
  });

  it("the same key with other arguments is still refused IDEMPOTENCY_KEY_REUSED, from any session", async () => {
    await send(await session(), "retry-key-43");
    const other = await send(await session(), "retry-key-43", "bob@example.com");
    expect(other.isError).toBe(true);
    expect(structured(other)).toMatchObject({ status: "refused", code: "IDEMPOTENCY_KEY_REUSED" });
  });

  it("another person reusing the key gets no replay of the first one's call", async () => {
    const ann = await session({ Authorization: `Bearer ${await g.userTokenFor(g.orgId, "ann@acme", ["operator"])}` });
    const annFirst = structured(await send(ann, "retry-key-44"));
    expect(annFirst).toMatchObject({ status: "executed" });
    const bob = await session({ Authorization: `Bearer ${await g.userTokenFor(g.orgId, "bob@acme", ["operator"])}` });
    expect(structured(await send(bob, "retry-key-44"))).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
    // Nor does the agent's own key, which acts for no person.
    expect(structured(await send(await session(), "retry-key-44"))).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
    // Ann herself, from a new session, gets her replay.
    const annAgain = await session({
      Authorization: `Bearer ${await g.userTokenFor(g.orgId, "ann@acme", ["operator"])}`,
    });
    expect(structured(await send(annAgain, "retry-key-44"))).toMatchObject({ interaction_id: annFirst.interaction_id });
  });

  it("REST is unchanged: the same body replays, another body under the key is 409", async () => {
    const body = executeBody(
      UAPK,
      { type: "email", tool: "send", params: { to: "ann@example.com" } },
      { idempotency_key: "rest-key-1", context: { mcp_session_id: "s-1" } },
    );
    const first = await agent(g).post("/api/v1/gateway/execute", body);
    expect(first.status).toBe(200);
    const again = await agent(g).post("/api/v1/gateway/execute", body);
    expect(again.body).toMatchObject({ interaction_id: first.body.interaction_id, idempotent: true });
    const other = { ...body, action: { ...body.action, params: { to: "bob@example.com" } } };
    const refused = await agent(g).post("/api/v1/gateway/execute", other);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
  });
});
