// Redis goes away and comes back (a TCP relay in front of the real Redis is cut and restored): the node is not
// ready and what needs Redis fails closed with 503 problem+json, then both recover without a restart.
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRunRedisTests, TEST_REDIS_URL } from "../../src/core/events/redis-availability";
import { agent } from "../../src/faces/actions/e2e/helpers";
import { startTwoNodes, type TwoNodes } from "./nodes";

const runRedis = await shouldRunRedisTests("Redis outage tests");

/** A TCP relay to Redis that can be cut (every connection dropped, port closed) and restored on the same port. */
class CuttableRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: URL) {}

  async open(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      const upstream = new (client.constructor as typeof Socket)();
      upstream.connect(Number(this.target.port || 6379), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((ok, fail) => server.once("error", fail).listen(this.port, "127.0.0.1", ok));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  }
}

/** A POST to /mcp/purutos as the environment's agent key (of session `sessionId`, or an initialize without). */
function mcpPost(node: { url: string; apiKey: string }, body: unknown, sessionId?: string) {
  return fetch(`${node.url}/mcp/purutos`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "x-api-key": node.apiKey,
      ...(sessionId ? { "mcp-session-id": sessionId } : {}),
    },
    body: JSON.stringify(body),
  });
}

describe.runIf(runRedis)("Redis unavailable", () => {
  let relay: CuttableRelay;
  let nodes: TwoNodes;
  beforeAll(async () => {
    relay = new CuttableRelay(new URL(TEST_REDIS_URL));
    await relay.open();
    nodes = await startTwoNodes({ REDIS_URL: `redis://127.0.0.1:${relay.port}` });
  });
  afterAll(async () => {
    await relay.open();
    await nodes?.dispose();
    await relay.cut();
  });

  it("not ready and 503 REDIS_UNAVAILABLE while it is down; ready and serving again once it is back", async () => {
    await expect.poll(async () => (await nodes.a.readiness()).ready, { timeout: 10_000 }).toBe(true);
    expect((await agent(nodes.a).get("/purutos")).status).toBe(200);
    const initialized = await mcpPost(nodes.a, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "outage", version: "1" } },
    });
    await initialized.text();
    const mcpSession = initialized.headers.get("mcp-session-id")!;
    const toolsList = { jsonrpc: "2.0", id: 2, method: "tools/list" };
    expect((await mcpPost(nodes.b, toolsList, mcpSession)).status).toBe(200);

    await relay.cut();
    await expect.poll(async () => (await nodes.a.readiness()).ready, { timeout: 10_000 }).toBe(false);
    expect((await nodes.a.readiness()).checks).toMatchObject({ redis: "disconnected", events: "disconnected" });
    const refused = await agent(nodes.a).get("/purutos");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(refused.body).toMatchObject({ code: "REDIS_UNAVAILABLE" });
    expect(
      (
        await agent(nodes.b).post("/api/v1/gateway/evaluate", {
          uapk_id: "x",
          agent_id: "x",
          action: { type: "a", tool: "b", params: {} },
        })
      ).status,
    ).toBe(503);
    // An MCP session cannot be checked (it may have been deleted on another node): refused, on the nodes holding it too.
    for (const node of [nodes.a, nodes.b]) {
      const mcpRefused = await mcpPost(node, toolsList, mcpSession);
      expect(mcpRefused.status).toBe(503);
      expect(await mcpRefused.json()).toMatchObject({ code: "REDIS_UNAVAILABLE" });
    }

    await relay.open();
    await expect.poll(async () => (await nodes.a.readiness()).ready, { timeout: 15_000 }).toBe(true);
    await expect.poll(async () => (await agent(nodes.a).get("/purutos")).status, { timeout: 15_000 }).toBe(200);
    for (const node of [nodes.a, nodes.b]) expect((await mcpPost(node, toolsList, mcpSession)).status).toBe(200);
  });
});
