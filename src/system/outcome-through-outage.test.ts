// The review's case end to end: three nodes on one PostgreSQL in the review, one here — a real Gatehouse whose
// DATABASE_URL goes through a TCP proxy, and an http upstream that cuts that proxy when the call reaches it and
// restores it 5 s later (no node dies). The caller used to get 200 while nothing of the call's end was committed, the
// audit chain kept its intent alone, and the retry was settled 409 IDEMPOTENCY_OUTCOME_UNKNOWN. Now the 200 comes once
// the outcome and the key's answer are stored; the chain has the outcome; the key replays; the upstream got one call.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TcpProxy, tcpProxy } from "../core/store/contract/tcp-proxy";
import { createTestPgDatabase, postgresForTests, type TestPgDatabase } from "../core/store/test-support";
import { BACKEND_TEST_SECRET } from "../test-support/backends";
import { startTestGatehouse, type TestGatehouse } from "../test-support/gatehouse";
import { agent, executeBody, operator, registerManifest } from "../test-support/http";

const admin = await postgresForTests("outcome through a database outage, end to end");
const OUTAGE_MS = 5_000;

describe.skipIf(!admin)("POST /execute whose upstream call outlives the database (PostgreSQL through a proxy)", () => {
  let database: TestPgDatabase;
  let proxy: TcpProxy;
  let upstream: Server;
  let g: TestGatehouse;
  const received: string[] = [];

  beforeAll(async () => {
    database = await createTestPgDatabase(admin!);
    const target = new URL(database.url);
    proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    upstream = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        received.push(body);
        proxy.cut();
        setTimeout(() => proxy.restore(), OUTAGE_MS);
        res.setHeader("content-type", "application/json");
        res.end('{"paid":true}');
      });
    });
    await new Promise<void>((listening) => upstream.listen(0, "127.0.0.1", listening));
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxy.port);
    g = await startTestGatehouse({
      env: { DATABASE_URL: viaProxy.toString(), GATEHOUSE_SECRET: BACKEND_TEST_SECRET },
    });
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/pay`;
    await registerManifest(g, {
      uapk_id: "cut-bot",
      agent: { id: "cut-bot", name: "Cut Bot" },
      capabilities: ["pay:send"],
      constraints: { max_actions_per_hour: 10 },
      tools: {
        "pay:send": {
          connector: { type: "http", method: "POST", url, allowed_hosts: ["127.0.0.1"], allow_private: true },
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await g?.dispose();
    await proxy?.close();
    upstream?.close();
    await database?.drop();
  });

  it("answers 200 once the records are stored: outcome in the chain, the key replays, one upstream call", async () => {
    const body = executeBody(
      "cut-bot",
      { type: "pay", tool: "send", params: { ref: "R-1" } },
      { idempotency_key: "R-1" },
    );
    const first = await agent(g).post("/api/v1/gateway/execute", body);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ decision: "ALLOW", executed: true });

    const records = await operator(g).get(`/interactions/${first.body.interaction_id}`);
    expect(JSON.stringify(records.body)).toContain('"outcome"');
    expect((await operator(g).get("/interactions/verify")).body).toMatchObject({ valid: true });
    const retry = await agent(g).post("/api/v1/gateway/execute", body);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ interaction_id: first.body.interaction_id, executed: true, idempotent: true });
    expect(received).toHaveLength(1);
  }, 90_000);
});
