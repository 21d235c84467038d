// The node that held an idempotency key died after recording the action's intent: whether the action took effect is
// unknown, so every retry with that key is answered 409 IDEMPOTENCY_OUTCOME_UNKNOWN and runs nothing. The agent (or
// its operator) needs the interaction to find out what happened: the REST problem body carries `interaction_id`, and
// the MCP tool result carries it in `structuredContent` — not only inside the prose of a message.
//
// The dead node is simulated in the store, as the leases module reads it (src/core/idempotency/leases.ts): the key's
// row is put back in flight, owned by a process whose lease ran out, linked to the interaction whose intent (and here
// even outcome) the audit log holds. On both store backends.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import { API_KEY } from "../../../test-support/gatehouse";
import {
  agent,
  executeBody,
  operator,
  registerManifest,
  startReceiver,
  type Receiver,
} from "../../../test-support/http";

const UAPK = "payout-bot";

/** An MCP client of the agent endpoint (a face's test does not import another face's test support). */
async function mcpClient(url: string): Promise<Client> {
  const client = new Client({ name: "outcome-unknown-e2e", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { "X-API-Key": API_KEY } } }),
  );
  return client;
}

/** Turns a completed key back into the claim of a node that died after linking its intent. */
async function killOwnerOf(backend: OpenedBackend, g: TestGatehouse, key: string): Promise<void> {
  const update = `UPDATE idempotency_keys SET state = 'in_flight', status = NULL, response = NULL, completed_at = NULL,
    owner = 'proc-dead-node', lease_until = '2000-01-01T00:00:00.000Z' WHERE key = '${key}'`;
  if (g.db) g.db.prepare(update).run();
  else await backend.rows(g, update);
  const [row] = (await backend.rows(g, `SELECT interaction_id FROM idempotency_keys WHERE key = '${key}'`)) as {
    interaction_id: string | null;
  }[];
  expect(row?.interaction_id, "the owner linked its intent before the call ran").toBeTruthy();
}

const backends = await gatehouseBackends("idempotency outcome unknown over HTTP");

describe.each(backends)("409 IDEMPOTENCY_OUTCOME_UNKNOWN reaches the agent with the interaction ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Payout Bot" },
      capabilities: ["payout:send"],
      tools: {
        "payout:send": {
          connector: {
            type: "webhook",
            url: `${receiver.url}/payout`,
            allowed_hosts: ["127.0.0.1"],
            allow_private: true,
          },
        },
      },
    });
  });

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
    await receiver?.close();
  });

  it("REST: every retry is a 409 problem naming the interaction, and the tool is not called again", async () => {
    const body = executeBody(
      UAPK,
      { type: "payout", tool: "send", params: { order: "P-1" } },
      { idempotency_key: "payout-P-1" },
    );
    const first = await agent(g).post("/api/v1/gateway/execute", body);
    expect(first.body).toMatchObject({ decision: "ALLOW", executed: true });
    await killOwnerOf(opened, g, "payout-P-1");

    for (let retry = 0; retry < 2; retry++) {
      const reply = await agent(g).post("/api/v1/gateway/execute", body);
      expect(reply.status).toBe(409);
      expect(reply.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(reply.body).toMatchObject({
        status: 409,
        code: "IDEMPOTENCY_OUTCOME_UNKNOWN",
        type: "urn:gatehouse:problem:idempotency_outcome_unknown",
        interaction_id: first.body.interaction_id,
      });
      expect(reply.body.detail).toContain("payout-P-1");
    }
    expect(receiver.count("/payout")).toBe(1);

    // The interaction is what an operator looks up to learn whether the action took effect.
    const looked = await operator(g).get(`/interactions/${first.body.interaction_id}`);
    expect(looked.status).toBe(200);
  });

  it("MCP: the refused call's structuredContent carries the interaction id", async () => {
    const client = await mcpClient(`${g.url}/mcp/agents/${UAPK}`);
    try {
      const call = () =>
        client.callTool({
          name: "payout.send",
          arguments: { params: { order: "P-2" } },
          _meta: { idempotency_key: "payout-P-2" },
        });
      const first = (await call()) as { structuredContent: Record<string, unknown>; isError?: boolean };
      expect(first.structuredContent).toMatchObject({ decision: "ALLOW" });
      await killOwnerOf(opened, g, "payout-P-2");

      const retry = (await call()) as { structuredContent: Record<string, unknown>; isError?: boolean };
      expect(retry.isError).toBe(true);
      expect(retry.structuredContent).toMatchObject({
        status: "refused",
        code: "IDEMPOTENCY_OUTCOME_UNKNOWN",
        interaction_id: first.structuredContent.interaction_id,
      });
      expect(receiver.count("/payout")).toBe(2);
    } finally {
      await client.close();
    }
  });
});
