// The conformance tap can fail: a server that answers outside the contract (undocumented status, wrong content
// type, a body that breaks its schema, a missing required header, an undocumented upgrade refusal, a frame that
// breaks its AsyncAPI schema) is reported, and one that keeps to it is not.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { tapConformance } from "./conformance";

const servers: Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((ok) => s.close(ok));
  }
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("conformance tap", () => {
  it("reports an undocumented status, a wrong content type, a body off its schema and a missing header", async () => {
    const answers: Record<string, [number, Record<string, string>, string]> = {
      "/livez": [418, { "content-type": "application/json" }, "{}"],
      "/health": [200, { "content-type": "text/html" }, "<p>ok</p>"],
      "/readyz": [200, { "content-type": "application/json" }, '{"unexpected":true}'],
      "/purutos": [429, { "content-type": "application/problem+json" }, '{"title":"x","status":429}'],
    };
    const { server, url } = await serve((req, res) => {
      const [status, headers, body] = answers[req.url ?? ""] ?? [404, {}, ""];
      res.writeHead(status, headers).end(body);
    });
    const tap = tapConformance(server);
    for (const path of Object.keys(answers)) await (await fetch(`${url}${path}`)).text();
    await new Promise((r) => setTimeout(r, 50));
    const text = tap.violations.map((v) => v.problem).join("\n");
    expect(text).toMatch(/System_livez answered 418/);
    expect(text).toMatch(/System_health 200 content type 'text\/html'/);
    expect(text).toMatch(/System_readyz 200 body does not match the schema/);
    expect(text).toMatch(/Purutos_list 429 lacks the documented header Retry-After/);
    await expect(tap.assertClean()).rejects.toThrow(/Traffic that breaks the contract \(\d+\)/);
    expect(tap.violations).toEqual([]);
  });

  it("stays quiet for answers the contract documents, and for paths that are no operation", async () => {
    const { server, url } = await serve((req, res) => {
      if (req.url === "/livez") res.writeHead(200, { "content-type": "application/json" }).end('{"status":"alive"}');
      else res.writeHead(404).end();
    });
    const tap = tapConformance(server);
    await (await fetch(`${url}/livez`)).text();
    await (await fetch(`${url}/not-an-operation`)).text();
    await expect(tap.assertClean()).resolves.toBeUndefined();
  });

  it("reports an undocumented upgrade refusal and a frame that breaks its AsyncAPI schema", async () => {
    const wss = new WebSocketServer({ noServer: true });
    const { server, url } = await serve((_req, res) => res.writeHead(404).end());
    const tap = tapConformance(server);
    server.on("upgrade", (req, socket, head) => {
      if (req.url === "/ws/refused") {
        socket.end("HTTP/1.1 402 Payment Required\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send(JSON.stringify({ type: "ack", message_id: "m-1", ack_type: "user_message", seq: 1 }));
        ws.send(JSON.stringify({ type: "no_such_frame", seq: 2 }));
      });
    });
    const wsUrl = url.replace("http", "ws");
    await new Promise<void>((ok) => {
      const refused = new WebSocket(`${wsUrl}/ws/refused`);
      refused.on("error", () => ok());
    });
    await new Promise<void>((ok) => {
      const client = new WebSocket(`${wsUrl}/ws/s-1`);
      let n = 0;
      client.on("message", () => {
        if (++n === 2) {
          client.close();
          ok();
        }
      });
    });
    await new Promise((r) => setTimeout(r, 50));
    const error = await tap.assertClean().then(
      () => "",
      (err: Error) => err.message,
    );
    expect(error).toMatch(/upgrade refused with undocumented status 402/);
    expect(error).toMatch(/no_such_frame.*breaks its schema/);
    expect(error).not.toMatch(/"type":"ack"/);
    wss.close();
  });
});
