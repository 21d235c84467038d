// MCP through the cluster's load balancer (deploy/cluster/haproxy.cfg, what `make cluster` runs): plain
// round-robin, no stickiness on `Mcp-Session-Id`. The nodes share Redis, so the node that did not open a session
// rebuilds it from its shared record. While a session lived only in the memory of the node that opened it, every
// other request of a session reached the other node and was refused with 404 MCP_SESSION_NOT_FOUND.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRunRedisTests } from "../../src/core/events/redis-availability";
import { API_KEY, registerManifest } from "../../src/faces/actions/e2e/helpers";
import { freePort, haproxyForTests, type LoadBalancer } from "./haproxy";
import { startTwoNodes, type TwoNodes } from "./nodes";

const runRedis = await shouldRunRedisTests("MCP through HAProxy");
const haproxy = runRedis ? await haproxyForTests("MCP through HAProxy") : undefined;
const UAPK = "cluster-mcp-bot";

describe.runIf(runRedis && haproxy)("MCP through the cluster's HAProxy", () => {
  let nodes: TwoNodes;
  let lb: LoadBalancer;

  beforeAll(async () => {
    nodes = await startTwoNodes();
    await registerManifest(nodes.a, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Cluster MCP Bot" },
      capabilities: ["crm:read"],
      tools: { "crm:read": { connector: { type: "echo" } } },
    });
    lb = await haproxy!.start({
      nodes: [new URL(nodes.a.url).host, new URL(nodes.b.url).host],
      port: await freePort(),
    });
  });
  afterAll(async () => {
    await lb?.stop();
    await nodes?.dispose();
  });

  it("every request of an MCP session is served by whichever node it reaches (no 404 MCP_SESSION_NOT_FOUND)", async () => {
    const post = (body: unknown, sessionId?: string) =>
      fetch(`${lb.url}/mcp/agents/${UAPK}`, {
        method: "POST",
        headers: {
          "X-API-Key": API_KEY,
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
          ...(sessionId ? { "Mcp-Session-Id": sessionId, "Mcp-Protocol-Version": "2025-03-26" } : {}),
        },
        body: JSON.stringify(body),
      });
    const init = await post({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "cluster-test", version: "1" } },
    });
    expect(init.status).toBe(200);
    const sessionId = init.headers.get("mcp-session-id");
    expect(sessionId).toBeTruthy();
    await init.text();

    const statuses: number[] = [];
    const initialized = await post({ jsonrpc: "2.0", method: "notifications/initialized" }, sessionId!);
    statuses.push(initialized.status);
    await initialized.text();
    // Round-robin alternates the nodes: six calls would reach the other node three times.
    for (let i = 0; i < 6; i++) {
      const call = await post(
        { jsonrpc: "2.0", id: 2 + i, method: "tools/call", params: { name: "crm.read", arguments: { params: { i } } } },
        sessionId!,
      );
      statuses.push(call.status);
      const text = await call.text();
      if (call.status === 200) expect(text).toContain('"decision":"ALLOW"');
    }
    expect(statuses).toEqual([202, 200, 200, 200, 200, 200, 200]);
  });
});
