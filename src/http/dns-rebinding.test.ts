// Review R15 (DNS rebinding): a web page that rebinds its own name to 127.0.0.1 is same-origin with a gateway on a
// developer's machine, so the browser lets its script call every door with whatever key it knows. Every door of the
// real server refuses a request sent to a name the gateway does not answer for (Host), or a browser's request from
// a page elsewhere (Origin): REST, the MCP endpoints, the console's assets and the WebSocket upgrade, before any
// credential is looked at. curl, SDKs and the console itself (same origin) are unaffected.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../test-support/gatehouse";

const REBOUND = "rebind.attacker.example";

interface Answer {
  status: number;
  contentType: string;
  body: string;
  upgraded: boolean;
}

/** One request over node:http (fetch cannot set Host); an upgrade that succeeds is closed at once. */
function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.once("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers["content-type"] ?? ""),
          body: text,
          upgraded: false,
        }),
      );
    });
    req.once("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, contentType: "", body: "", upgraded: true });
    });
    req.once("error", reject);
    req.end(body);
  });
}

let g: TestGatehouse;
let port: string;
beforeAll(async () => {
  g = await startTestGatehouse();
  port = new URL(g.url).port;
});
afterAll(() => g?.dispose());

const rebound = () => ({ Host: `${REBOUND}:${port}`, Origin: `http://${REBOUND}:${port}` });

function expectRefused(answer: Answer, code: string): void {
  expect(answer.status, answer.body).toBe(421);
  expect(answer.contentType).toContain("application/problem+json");
  expect(JSON.parse(answer.body)).toMatchObject({ status: 421, code });
}

describe("a page rebound to the gateway's address (the review's repro)", () => {
  it("cannot run a puruto command with the key it knows", async () => {
    const headers = { ...rebound(), "X-API-Key": g.apiKey };
    expectRefused(await send(`${g.url}/purutos/puruto-data/status`, "POST", headers), "HOST_NOT_ALLOWED");
    // The same request under the machine's own name runs the command.
    const local = await send(`${g.url}/purutos/puruto-data/status`, "POST", { "X-API-Key": g.apiKey });
    expect(local.status, local.body).toBe(200);
  });

  it("cannot open an MCP session (the SDK transport never sees the request)", async () => {
    const initialize = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "rebound", version: "1" } },
    });
    const headers = {
      "X-API-Key": g.apiKey,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
    };
    for (const path of ["/mcp/purutos", "/mcp/agents/customer-support-bot"])
      expectRefused(
        await send(`${g.url}${path}`, "POST", { ...headers, ...rebound() }, initialize),
        "HOST_NOT_ALLOWED",
      );
    // The MCP spec's rule: a browser's request whose Origin is not the server's is refused, even sent to 127.0.0.1.
    const fromElsewhere = { ...headers, Origin: `http://${REBOUND}:${port}` };
    expectRefused(await send(`${g.url}/mcp/purutos`, "POST", fromElsewhere, initialize), "ORIGIN_NOT_ALLOWED");
    const local = await send(`${g.url}/mcp/purutos`, "POST", { ...headers, Origin: g.url }, initialize);
    expect(local.status, local.body).toBe(200);
  });

  it("cannot execute a governed action, read an approval or load the console", async () => {
    const execute = JSON.stringify({
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      action: { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hi" } },
    });
    const headers = { ...rebound(), "X-API-Key": g.apiKey, "Content-Type": "application/json" };
    expectRefused(await send(`${g.url}/api/v1/gateway/execute`, "POST", headers, execute), "HOST_NOT_ALLOWED");
    expectRefused(await send(`${g.url}/console`, "GET", rebound()), "HOST_NOT_ALLOWED");
    expectRefused(await send(`${g.url}/no/such/route`, "GET", rebound()), "HOST_NOT_ALLOWED");
    expect((await send(`${g.url}/console`, "GET", {})).status).toBe(200);
  });

  it("cannot open a WebSocket session, even with a valid token, and uses no rate-limit point", async () => {
    const token = await g.userTokenFor(g.orgId, "ide@rebind", ["developer"]);
    const upgrade = (extra: Record<string, string>) =>
      send(`${g.url}/ws/rebound`, "GET", {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        Authorization: `Bearer ${token}`,
        ...extra,
      });
    // More refusals than the per-IP budget (10 a minute): none of them counts.
    for (let i = 0; i < 12; i++) expectRefused(await upgrade(rebound()), "HOST_NOT_ALLOWED");
    expectRefused(await upgrade({ Origin: `https://${REBOUND}` }), "ORIGIN_NOT_ALLOWED");
    const local = await upgrade({ Origin: g.url });
    expect(local.upgraded).toBe(true);
  });
});

describe("GATEHOUSE_ALLOWED_HOSTS", () => {
  it("names the hosts answered (behind a proxy); `*` answers any", async () => {
    const named = await startTestGatehouse({ env: { GATEHOUSE_ALLOWED_HOSTS: "gatehouse.example.com" } });
    const any = await startTestGatehouse({ env: { GATEHOUSE_ALLOWED_HOSTS: "*" } });
    try {
      const health = (url: string, host: string) => send(`${url}/health`, "GET", { Host: host });
      expect((await health(named.url, "gatehouse.example.com")).status).toBe(200);
      expectRefused(await health(named.url, "127.0.0.1"), "HOST_NOT_ALLOWED");
      expect((await health(any.url, REBOUND)).status).toBe(200);
    } finally {
      await Promise.all([named.dispose(), any.dispose()]);
    }
  });
});
