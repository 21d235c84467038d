// A node on PostgreSQL whose database goes away: readiness turns false, a governed execute is refused with 503
// problem+json (never allowed, the connector never called), and both recover by themselves once the database
// answers again. The outage is a TCP proxy between the node and PostgreSQL that drops every connection.
import { createServer, type Server, type Socket, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresForTests } from "../../src/core/store/test-support";
import {
  agent,
  executeBody,
  operator,
  type Receiver,
  registerManifest,
  startReceiver,
} from "../../src/test-support/http";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";
import { openSharedPostgresStore, type SharedStore } from "./nodes";

const pgAdmin = await postgresForTests("PostgreSQL outage");

/** Forwards TCP to `target`; `cut()` drops every connection and refuses new ones until `restore()`. */
async function breakableProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as { port: number };
  return {
    port,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

describe.runIf(pgAdmin)("PostgreSQL goes away under a node", () => {
  let store: SharedStore;
  let proxy: Awaited<ReturnType<typeof breakableProxy>>;
  let node: TestGatehouse;
  let receiver: Receiver;

  beforeAll(async () => {
    store = await openSharedPostgresStore(pgAdmin!);
    const direct = new URL(store.env.DATABASE_URL!);
    proxy = await breakableProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const viaProxy = new URL(direct);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    node = await startTestGatehouse({ env: { ...store.env, DATABASE_URL: viaProxy.toString() } });
    receiver = await startReceiver();
    await registerManifest(node, {
      uapk_id: "pg-outage-bot",
      agent: { id: "pg-outage-bot", name: "Outage Bot" },
      capabilities: ["notify:send"],
      tools: {
        "notify:send": {
          connector: {
            type: "webhook",
            url: `${receiver.url}/outage`,
            allowed_hosts: ["127.0.0.1"],
            allow_private: true,
          },
        },
      },
    });
  });
  afterAll(async () => {
    await node?.dispose();
    await proxy?.close();
    await receiver?.close();
    await store?.dispose();
  });

  const send = () =>
    agent(node).post("/api/v1/gateway/execute", executeBody("pg-outage-bot", { type: "notify", tool: "send" }));

  it("readiness false and execute 503 problem+json while it is down; both recover by themselves", async () => {
    expect((await send()).body).toMatchObject({ decision: "ALLOW", executed: true });
    expect(receiver.count("/outage")).toBe(1);

    proxy.cut();
    const refused = await send();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(refused.body).toMatchObject({ status: 503, code: "DATABASE_UNAVAILABLE" });
    expect(receiver.count("/outage")).toBe(1); // never allowed, never called
    // An operator's read is refused the same way (503, not a 500 with no explanation).
    const listed = await operator(node).get("/approvals");
    expect(listed.status).toBe(503);
    expect(listed.body).toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    await expect
      .poll(async () => (await fetch(`${node.url}/readyz`)).status, { timeout: 15_000, interval: 500 })
      .toBe(503);

    proxy.restore();
    await expect
      .poll(async () => (await fetch(`${node.url}/readyz`)).status, { timeout: 30_000, interval: 500 })
      .toBe(200);
    await expect.poll(async () => (await send()).status, { timeout: 30_000, interval: 500 }).toBe(200);
    expect(receiver.count("/outage")).toBe(2);
  }, 120_000);
});
