// The edges of HTTP/1.1 Node's server decides before the app (review R-C, http-edges.sh), over a real socket of the
// real server: an `Upgrade` offer the gateway does not take, a request without `Host` or with two, an `Expect` it
// cannot meet, a CONNECT, an absolute-form target naming another host. Each is answered as HTTP says, in
// problem+json, never a bare status line or a closed socket.
import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trackInFlight } from "../system/lifecycle";
import { startTestGatehouse, type TestGatehouse } from "../test-support/gatehouse";
import { serveAsPlainHttp } from "./boundary";

let g: TestGatehouse;
beforeAll(async () => {
  g = await startTestGatehouse();
});
afterAll(() => g?.dispose());

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `parts` (one after the other, each once the previous is out) and reads until the server closes. */
async function exchange(...parts: string[]): Promise<{ bytes: number; answers: RawAnswer[] }> {
  const socket = connect(Number(new URL(g.url).port), "127.0.0.1");
  socket.on("error", () => {});
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  const closed = new Promise<void>((ok) => socket.once("close", () => ok()));
  for (const part of parts) await new Promise<void>((ok) => socket.write(part, () => setImmediate(ok)));
  await closed;
  const all = Buffer.concat(chunks);
  return { bytes: all.length, answers: parseAnswers(all.toString("latin1")) };
}

/** Writes `bytes` at once and reads until `count` answers arrived (or the server closed), then closes. */
async function pipelined(bytes: string, count: number, port = Number(new URL(g.url).port)): Promise<RawAnswer[]> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  const chunks: Buffer[] = [];
  const answers = () => parseAnswers(Buffer.concat(chunks).toString("latin1"));
  await new Promise<void>((done) => {
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      if (answers().length >= count) done();
    });
    socket.once("close", () => done());
    socket.write(bytes);
  });
  socket.destroy();
  return answers();
}

/** The responses in `text`, one after the other (each with a Content-Length). */
function parseAnswers(text: string): RawAnswer[] {
  const answers: RawAnswer[] = [];
  let rest = text;
  while (rest.startsWith("HTTP/1.1 ")) {
    const end = rest.indexOf("\r\n\r\n");
    const [statusLine = "", ...lines] = rest.slice(0, end).split("\r\n");
    const headers = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
    );
    const length = Number(headers["content-length"] ?? 0);
    answers.push({ status: Number(statusLine.split(" ")[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return answers;
}

const H2C = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n";

describe("an Upgrade the gateway does not take (curl --http2, Java's HttpClient) is served as plain HTTP/1.1", () => {
  it("GET /health with Upgrade: h2c answers the health check, and the connection serves the next request", async () => {
    const { answers } = await exchange(
      `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}\r\n`,
      "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(JSON.parse(answers[0]!.body)).toMatchObject({ service: "gatehouse" });
    expect(answers[0]!.headers["x-request-id"]).toBeTruthy();
  });

  it("a REST POST with Upgrade: h2c is read whole (its body sent in two writes) and judged", async () => {
    const body = JSON.stringify({
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      action: { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hi" } },
    });
    const head =
      `POST /api/v1/gateway/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}X-API-Key: ${g.apiKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const { answers } = await exchange(head + body.slice(0, 20), body.slice(20));
    expect(answers[0]?.status, answers[0]?.body).toBe(200);
    expect(JSON.parse(answers[0]!.body)).toHaveProperty("decision");
  });

  it("an MCP initialize with Upgrade: h2c opens the session", async () => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "h2c", version: "1" } },
    });
    const { answers } = await exchange(
      `POST /mcp/purutos HTTP/1.1\r\nHost: 127.0.0.1\r\n${H2C}X-API-Key: ${g.apiKey}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(answers[0]?.status, answers[0]?.body).toBe(200);
    expect(answers[0]!.body).toContain('"protocolVersion"');
  });

  it("an h2c request pipelined behind another is answered after it, and no request stays in flight", async () => {
    const inFlight = trackInFlight(g.server);
    const host = `Host: 127.0.0.1:${new URL(g.url).port}\r\n`;
    const answers = await pipelined(
      `GET /health HTTP/1.1\r\n${host}\r\nGET /nothere HTTP/1.1\r\n${host}Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n`,
      2,
    );
    expect(answers.map((a) => a.status)).toEqual([200, 404]);
    expect(JSON.parse(answers[0]!.body)).toMatchObject({ service: "gatehouse" });
    expect(await inFlight.settled(30_000)).toBe(true);
  });

  it("an h2c POST /execute with a body pipelined behind a GET is answered after it, and nothing stays in flight", async () => {
    const inFlight = trackInFlight(g.server);
    const body = JSON.stringify({
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      action: { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hi" } },
    });
    const host = `Host: 127.0.0.1:${new URL(g.url).port}\r\n`;
    const answers = await pipelined(
      `GET /health HTTP/1.1\r\n${host}\r\nPOST /api/v1/gateway/execute HTTP/1.1\r\n${host}${H2C}` +
        `X-API-Key: ${g.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      2,
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(JSON.parse(answers[1]!.body)).toHaveProperty("decision");
    expect(await inFlight.settled(30_000)).toBe(true);
  });

  it("a pipelined h2c request slower than the keep-alive timeout is not cut off by the earlier request's timer", async () => {
    // Node arms the keep-alive timeout (keepAliveTimeout plus its 1 s margin) once the earlier response finished.
    const server = createServer((req, res) => {
      setTimeout(() => res.end(req.url), req.url === "/slow" ? 1500 : 10);
    });
    server.keepAliveTimeout = 1;
    server.on("upgrade", (req, socket, head) => serveAsPlainHttp(server, req, socket, head));
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      const answers = await pipelined(
        "GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        2,
        (server.address() as AddressInfo).port,
      );
      expect(answers.map((a) => a.body)).toEqual(["/first", "/slow"]);
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  });
});

/** The one answer of a request sent alone (the server closes after it, or after Connection: close). */
async function only(request: string): Promise<RawAnswer & { problem: Record<string, unknown> }> {
  const { answers } = await exchange(request);
  expect(answers).toHaveLength(1);
  const answer = answers[0]!;
  expect(answer.headers["content-type"]).toBe("application/problem+json");
  return { ...answer, problem: JSON.parse(answer.body) as Record<string, unknown> };
}

describe("what Node's server answered itself, or let through, is problem+json as HTTP/1.1 says", () => {
  it("an HTTP/1.1 request without Host → 400 MALFORMED_REQUEST (HTTP/1.0 without it is still served)", async () => {
    const answer = await only("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    expect(answer.problem).toMatchObject({ status: 400, code: "MALFORMED_REQUEST" });
    expect(answer.problem.request_id).toBeTruthy();
    const { answers } = await exchange("GET /health HTTP/1.0\r\n\r\n");
    expect(answers[0]?.status).toBe(200);
  });

  it("a repeated Host (the first one allowed, the second not) → 400 MALFORMED_REQUEST, not the first one's 200", async () => {
    for (const hosts of ["Host: 127.0.0.1\r\nHost: evil.example", "Host: 127.0.0.1\r\nhost: 127.0.0.1"]) {
      const answer = await only(`GET /health HTTP/1.1\r\n${hosts}\r\nConnection: close\r\n\r\n`);
      expect(answer.problem, hosts).toMatchObject({ status: 400, code: "MALFORMED_REQUEST" });
    }
  });

  it("an absolute-form target naming another host → 421 HOST_NOT_ALLOWED, as that Host would be", async () => {
    const answer = await only(
      "GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    expect(answer.problem).toMatchObject({ status: 421, code: "HOST_NOT_ALLOWED" });
    expect(answer.problem.detail).toContain("evil.example");
    // Its own name in absolute form is served (RFC 9112 §3.2.2: a server must accept the form).
    const port = new URL(g.url).port;
    const { answers } = await exchange(
      `GET http://127.0.0.1:${port}/health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
    );
    expect(answers[0]?.status).toBe(200);
  });

  it("an Expect other than 100-continue → 417 EXPECTATION_FAILED, and nothing runs", async () => {
    const answer = await only("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 200-ok\r\n\r\n");
    expect(answer.status).toBe(417);
    expect(answer.problem).toMatchObject({ status: 417, code: "EXPECTATION_FAILED" });
  });

  it("a CONNECT → 405 METHOD_NOT_ALLOWED with an empty Allow, then the connection closes", async () => {
    const answer = await only("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n");
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe("");
    expect(answer.problem).toMatchObject({ status: 405, code: "METHOD_NOT_ALLOWED" });
  });
});
