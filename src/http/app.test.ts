// The HTTP boundary as a client sees it: every failure is problem+json with a useful detail, and an
// operation whose face has not landed answers 501 naming it (never a fake success).
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKeyStore } from "../core/identity/api-keys";
import { logger } from "../core/log/logger";
import { openMigratedDatabase } from "../core/store/test-support";
import { createApp } from "./app";
import { createAuthenticator } from "./auth";
import { answerClientErrors } from "./errors";
import { loadSpec } from "./spec";

const KEY = "http-layer-test-key";
let server: Server;
let base: string;
/** The request the health handler was last given. */
let handed: Record<string, unknown> | undefined;

beforeAll(async () => {
  const db = await openMigratedDatabase(":memory:");
  const apiKeys = createApiKeyStore(db, { secret: Buffer.from("s"), envKeys: [KEY], defaultOrg: "default" });
  const rejectAll = async () => {
    throw Object.assign(new Error("no"), { code: "TOKEN_INVALID" });
  };
  const app = createApp({
    spec: loadSpec(),
    // Only one operation is implemented here; every other one must answer 501.
    handlers: {
      System_health: (req) => {
        handed = req as unknown as Record<string, unknown>;
        return { status: 200, body: { status: "healthy", service: "gatehouse" } };
      },
    },
    auth: createAuthenticator(apiKeys, rejectAll),
    logger,
    maxBodyBytes: 2048,
  });
  server = createServer(app.callback());
  answerClientErrors(server);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(base + path, init);
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    headers: res.headers,
    body: text ? JSON.parse(text) : undefined,
  };
}

/** Writes raw bytes to the server and reads its whole answer (it closes the connection after an error). */
async function rawExchange(bytes: string) {
  const socket = connect(Number(new URL(base).port), "127.0.0.1");
  socket.on("error", () => {});
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.write(bytes);
  await new Promise<void>((ok) => socket.once("close", () => ok()));
  const text = Buffer.concat(chunks).toString("utf8");
  const [head = "", body = ""] = text.split("\r\n\r\n");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
  );
  return { statusLine, headers, body: JSON.parse(body) as Record<string, unknown> };
}

const json = (body: string, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", "x-api-key": KEY, ...headers },
  body,
});

const validExecute = JSON.stringify({
  uapk_id: "bot",
  agent_id: "bot",
  action: { type: "email", tool: "send", params: {} },
});

describe("the HTTP boundary", () => {
  it("echoes a sane X-Request-Id and generates one otherwise", async () => {
    const mine = await fetch(`${base}/health`, { headers: { "x-request-id": "req-abc.123" } });
    expect(mine.headers.get("x-request-id")).toBe("req-abc.123");
    const hostile = await fetch(`${base}/health`, { headers: { "x-request-id": "a b <script>" } });
    expect(hostile.headers.get("x-request-id")).toMatch(/^req-[0-9a-f-]{36}$/);
  });

  it("invalid JSON → 400 problem+json", async () => {
    const r = await call("/api/v1/gateway/execute", json("{not json"));
    expect(r.status).toBe(400);
    expect(r.type).toContain("application/problem+json");
    expect(r.body).toMatchObject({ status: 400, code: "INVALID_JSON", detail: "Request body is not valid JSON" });
  });

  it("JSON that is not an object, or that carries __proto__, → 400 saying so (never a 500)", async () => {
    for (const body of ['"str"', "null", "42"]) {
      const r = await call("/api/v1/gateway/execute", json(body));
      expect(r.status, body).toBe(400);
      expect(r.body.detail).toBe("Request body must be a JSON object");
    }
    for (const text of [
      '{"__proto__":{"x":1},"a":1}',
      '{"uapk_id":"u","agent_id":"a","action":{"type":"t","tool":"x","params":{"constructor":{"prototype":{"x":1}}}}}',
    ]) {
      const poisoned = await call("/api/v1/gateway/execute", json(text));
      expect(poisoned.status, text).toBe(400);
      expect(poisoned.body).toMatchObject({
        code: "INVALID_JSON",
        detail: "Request body must not contain __proto__ or constructor.prototype",
      });
    }
  });

  it("a URL too long for Node's parser → 431 problem+json, not a bare status line", async () => {
    const r = await fetch(`${base}/purutos/${"x".repeat(20_000)}`, { headers: { "x-api-key": KEY } });
    expect(r.status).toBe(431);
    expect(r.headers.get("content-type")).toContain("application/problem+json");
    expect(((await r.json()) as { detail: string }).detail).toBe("Request line or headers are too large");
  });

  it("a 100 KB header → 431 problem+json with code HEADERS_TOO_LARGE, over a raw socket", async () => {
    const answer = await rawExchange(`GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: ${"x".repeat(100 * 1024)}\r\n\r\n`);
    expect(answer.statusLine).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect(answer.headers["content-type"]).toBe("application/problem+json");
    expect(answer.body).toMatchObject({
      status: 431,
      code: "HEADERS_TOO_LARGE",
      type: "urn:gatehouse:problem:headers_too_large",
    });
  });

  it("a broken request line → 400 problem+json with code MALFORMED_REQUEST, over a raw socket", async () => {
    for (const garbage of [
      "NOT A REQUEST\r\n\r\n",
      "GET /health HTTP/1.1\r\nBad Header Line\r\n\r\n",
      "\u0000\u0001\r\n\r\n",
    ]) {
      const answer = await rawExchange(garbage);
      expect(answer.statusLine, JSON.stringify(garbage)).toBe("HTTP/1.1 400 Bad Request");
      expect(answer.body).toMatchObject({ status: 400, code: "MALFORMED_REQUEST" });
    }
  });

  it("a client that vanishes while its headers are refused leaves the server answering", async () => {
    const socket = connect(Number(new URL(base).port), "127.0.0.1");
    await new Promise<void>((ok) => socket.once("connect", () => ok()));
    socket.write(`GET /health HTTP/1.1\r\nX-Padding: ${"x".repeat(100 * 1024)}`);
    socket.destroy();
    expect((await call("/health")).status).toBe(200);
  });

  it("oversized body → 413 problem+json", async () => {
    const big = JSON.stringify({
      uapk_id: "x".repeat(5000),
      agent_id: "a",
      action: { type: "t", tool: "t", params: {} },
    });
    const r = await call("/api/v1/gateway/execute", json(big));
    expect(r.status).toBe(413);
    expect(r.body.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("unknown field → 400 naming it, with every problem listed", async () => {
    const r = await call(
      "/api/v1/gateway/execute",
      json(JSON.stringify({ uapk_id: "bot", action: { type: "email", tool: "send", params: {}, sneaky: 1 } })),
    );
    expect(r.status).toBe(400);
    expect(r.body.code).toBe("VALIDATION_FAILED");
    const pointers = r.body.errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).toContain("/body/action/sneaky");
    expect(pointers).toContain("/body/agent_id");
    expect(r.body.detail).toContain('unknown field "sneaky"');
  });

  it("a body that is not JSON → 415", async () => {
    const r = await call("/api/v1/gateway/execute", {
      method: "POST",
      headers: { "content-type": "text/plain", "x-api-key": KEY },
      body: "hi",
    });
    expect(r.status).toBe(415);
    expect(r.type).toContain("application/problem+json");
  });

  it("every operation with a request body declares the 413 and 415 the boundary answers", () => {
    const withBody = loadSpec().operations.filter((op) => op.validateBody);
    expect(withBody.length).toBeGreaterThanOrEqual(9);
    for (const op of withBody) {
      expect(op.responses.has(413), op.operationId).toBe(true);
      expect(op.responses.has(415), op.operationId).toBe(true);
    }
  });

  it("unknown route → 404, wrong method → 405 with Allow", async () => {
    const missing = await call("/no/such/route");
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("ROUTE_NOT_FOUND");
    const wrong = await call("/health", { method: "DELETE" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toContain("GET");
    expect(wrong.type).toContain("application/problem+json");
  });

  it("a method no route has (OPTIONS too) is 405 with Allow at a known path, 404 elsewhere", async () => {
    const options = await call("/api/v1/orgs/acme/manifests", { method: "OPTIONS" });
    expect(options.status).toBe(405);
    expect(options.type).toContain("application/problem+json");
    expect(options.body).toMatchObject({ code: "METHOD_NOT_ALLOWED", detail: "Method OPTIONS is not allowed here" });
    expect(options.headers.get("allow")?.split(", ").sort()).toEqual(["GET", "HEAD", "POST"]);
    // fetch() refuses to send TRACE: written by hand, the connection closed after the answer.
    const trace = await rawExchange("TRACE /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    expect(trace.statusLine).toBe("HTTP/1.1 405 Method Not Allowed");
    expect(trace.headers.allow?.split(", ").sort()).toEqual(["GET", "HEAD"]);
    expect(trace.body).toMatchObject({ code: "METHOD_NOT_ALLOWED" });
    const unknownMethod = await call("/health", { method: "PROPFIND" });
    expect(unknownMethod.status).toBe(405);
    expect(unknownMethod.body.code).toBe("METHOD_NOT_ALLOWED");
    expect((await call("/no/such/route", { method: "PROPFIND" })).status).toBe(404);
  });

  it("API key: missing or wrong → 401 with the X-API-Key challenge; the key checks run before validation", async () => {
    const none = await call("/purutos");
    expect(none.status).toBe(401);
    expect(none.body.detail).toBe("Invalid or missing API key");
    const wrong = await call("/purutos", { headers: { "x-api-key": "nope" } });
    expect(wrong.status).toBe(401);
    // RFC 9110 §15.5.2: every 401 names how to authenticate.
    for (const r of [none, wrong])
      expect(r.headers.get("www-authenticate")).toBe('ApiKey realm="gatehouse", header="X-API-Key"');
  });

  it("bearer: missing → 401 with a challenge; rejected token → 401 TOKEN_INVALID", async () => {
    const none = await call("/api/v1/orgs/acme/manifests");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    const bad = await call("/api/v1/orgs/acme/manifests", { headers: { authorization: "Bearer a.b.c" } });
    expect(bad.body.code).toBe("TOKEN_INVALID");
  });

  it("a specified operation without a handler → 501 naming the operation", async () => {
    const r = await call("/api/v1/gateway/execute", json(validExecute));
    expect(r.status).toBe(501);
    expect(r.body).toMatchObject({ code: "NOT_IMPLEMENTED", operation: "Gateway_execute" });
  });

  it("declared header parameters are validated like the others (If-None-Match longer than its maxLength → 400)", async () => {
    const tooLong = await call("/purutos", { headers: { "x-api-key": KEY, "if-none-match": `"${"e".repeat(300)}"` } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors[0].pointer).toBe("/headers/if-none-match");
    const withinBound = await call("/purutos", {
      headers: { "x-api-key": KEY, "if-none-match": `"${"e".repeat(254)}"` },
    });
    expect(withinBound.status).not.toBe(400);
  });

  it("query parameters are validated and unknown ones rejected", async () => {
    const r = await call("/purutos?surprise=1", { headers: { "x-api-key": KEY } });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].pointer).toBe("/query/surprise");
  });
});

describe("no API key configured", () => {
  it("→ 503 before anything else (seed 000)", async () => {
    const db = await openMigratedDatabase(":memory:");
    const apiKeys = createApiKeyStore(db, { secret: Buffer.from("s"), envKeys: ["changeme"], defaultOrg: "default" });
    expect(apiKeys.configured).toBe(false); // the placeholder is refused
    const app = createApp({
      spec: loadSpec(),
      handlers: {},
      auth: createAuthenticator(apiKeys, async () => ({ sub: "x", roles: [], exp: 0 })),
      logger,
      maxBodyBytes: 2048,
    });
    const s = createServer(app.callback());
    await new Promise<void>((ok) => s.listen(0, "127.0.0.1", ok));
    const res = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/purutos`, {
      headers: { "x-api-key": "changeme" },
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { detail: string }).detail).toBe("PURUTO_GATEWAY_API_KEY is not configured");
    s.close();
  });
});

describe("the request a handler is given", () => {
  it("holds only data properties (an accessor in an object literal made V8 keep it as a slow dictionary)", async () => {
    expect((await call("/health")).status).toBe(200);
    const own = Object.getOwnPropertyDescriptors(handed);
    expect(Object.values(own).every((d) => "value" in d)).toBe(true);
    expect(Object.keys(own)).toEqual(["params", "query", "body", "headers", "principal", "requestId"]);
    expect(handed?.query).toEqual({});
    expect(String(handed?.requestId)).toMatch(/^req-/);
    // The signal is made on first use; the answer has been sent, so the client leaving can no longer abort it.
    const signal = handed?.signal as AbortSignal;
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(handed?.signal).toBe(signal);
    expect(signal.aborted).toBe(false);
  });
});
