// Issue 10 §6, slow request bodies: a client that sends its headers and then trickles the body a byte at a time
// gets 408 problem+json once GATEHOUSE_BODY_TIMEOUT_MS has passed, and its connection is closed (the rest of the
// trickle is never read). A body that arrives in time, even in pieces, is answered normally; the server keeps
// answering other clients while tricklers wait.
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";

const BODY_TIMEOUT_MS = 400;
let g: TestGatehouse;
let port: number;

beforeAll(async () => {
  g = await startTestGatehouse({ env: { GATEHOUSE_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS) } });
  port = Number(new URL(g.url).port);
});
afterAll(() => g.dispose());

interface Trickled {
  /** Everything the server sent. */
  response: string;
  /** Ms from the headers to the server closing the connection. */
  closedAfterMs: number;
  /** Body bytes written before the server closed. */
  sent: number;
}

/** Sends the headers of a POST, then the body one byte every `everyMs`, until the server closes or it is all sent. */
function trickle(path: string, body: string, everyMs: number, headers: Record<string, string> = {}): Promise<Trickled> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, "127.0.0.1");
    let response = "";
    let sent = 0;
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (response += chunk));
    socket.on("error", () => {}); // a write after the server closed: expected
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ response, closedAfterMs: performance.now() - started, sent });
    });
    socket.on("connect", () => {
      const head = [
        `POST ${path} HTTP/1.1`,
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        `Content-Length: ${Buffer.byteLength(body)}`,
        `X-API-Key: ${g.apiKey}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        "",
        "",
      ].join("\r\n");
      socket.write(head);
      started = performance.now();
      timer = setInterval(() => {
        if (sent >= body.length) {
          clearInterval(timer);
          // In time: the server answers and (keep-alive) waits; close from our side once answered (a loaded
          // machine may take a while: a fixed 300 ms wait closed before the answer and read none).
          endOnceAnswered(socket, () => response);
          return;
        }
        socket.write(body[sent++]!);
      }, everyMs);
    });
    setTimeout(() => reject(new Error(`no close within 10 s; got ${JSON.stringify(response)}`)), 10_000).unref();
  });
}

/** Ends the socket once `received()` holds a whole answer (headers and Content-Length bytes), or after 5 s. */
function endOnceAnswered(socket: Socket, received: () => string, waitedMs = 0): void {
  const raw = received();
  const split = raw.indexOf("\r\n\r\n");
  const length = Number(/content-length:\s*(\d+)/i.exec(raw)?.[1] ?? Number.NaN);
  const whole = split !== -1 && Buffer.byteLength(raw.slice(split + 4)) >= length;
  if (whole || waitedMs >= 5_000) socket.end();
  else setTimeout(() => endOnceAnswered(socket, received, waitedMs + 20), 20);
}

function parseResponse(raw: string): { status: number; headers: string; body: Record<string, unknown> } {
  const [head = "", ...rest] = raw.split("\r\n\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const text = rest.join("\r\n\r\n");
  // Koa answers with a Content-Length body (no chunking) for a problem.
  return { status, headers: head.toLowerCase(), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const executeBody = JSON.stringify({
  uapk_id: "support-bot",
  agent_id: "agent-001",
  action: { type: "email", tool: "send_email", params: { to: "a@acme.com", subject: "x".repeat(200) } },
});

describe("slow request bodies get 408", () => {
  const routes = [
    ["governed execute", "/api/v1/gateway/execute", executeBody],
    ["puruto command", "/purutos/puruto-data/status", JSON.stringify({ pad: "y".repeat(200) })],
  ] as const;

  for (const [name, path, body] of routes) {
    it(`${name}: a trickled body is cut at the body timeout with 408 problem+json and a closed connection`, async () => {
      const t = await trickle(path, body, 50);
      const res = parseResponse(t.response);
      expect(res.status).toBe(408);
      expect(res.headers).toContain("content-type: application/problem+json");
      expect(res.headers).toContain("connection: close");
      expect(res.body).toMatchObject({ status: 408, code: "REQUEST_TIMEOUT" });
      expect(t.closedAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      expect(t.closedAfterMs).toBeLessThan(BODY_TIMEOUT_MS + 1_500);
      expect(t.sent).toBeLessThan(body.length);
    });
  }

  it("a body that arrives in pieces within the timeout is answered normally", async () => {
    const t = await trickle("/purutos/puruto-data/status", JSON.stringify({ a: 1 }), 20);
    const res = parseResponse(t.response);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "accepted", target: "puruto-data" });
  });

  it("twenty tricklers at once do not stop others from being served, and every one gets its 408", async () => {
    const tricklers = Array.from({ length: 20 }, () => trickle("/api/v1/gateway/execute", executeBody, 100));
    const started = performance.now();
    const health = await fetch(`${g.url}/health`);
    expect(health.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(BODY_TIMEOUT_MS);
    for (const t of await Promise.all(tricklers)) expect(parseResponse(t.response).status).toBe(408);
  });
});
