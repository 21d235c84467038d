// What an MCP call quotes back and records of what its client chose: the tool's name in an UNKNOWN_TOOL answer, the
// JSON-RPC id in the audit record, and the HTTP request's X-Request-Id / X-Correlation-Id (which REST records and
// passes to a puruto). A hostile client chooses all of them: a name of 900 KB came back twice (1.8 MB), an id of
// 500,000 characters was stored in the intent and the outcome, a U+202E came back and was stored raw.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_PARAMS_VALUES } from "../../../core/governance";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { exportedRecords } from "../../../test-support/http";
import { registerMcpBot, UAPK } from "../../../test-support/mcp";

let g: TestGatehouse;
const sessions = new Map<string, string>();

/** A raw POST on `path` (its session once initialized); the JSON-RPC messages answered. */
async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const session = sessions.get(path);
  const response = await fetch(`${g.url}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "x-api-key": g.apiKey,
      "mcp-protocol-version": "2025-06-18",
      ...(session ? { "mcp-session-id": session } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const messages = (response.headers.get("content-type") ?? "").startsWith("text/event-stream")
    ? [...text.matchAll(/^data: (.+)$/gm)].map((m) => JSON.parse(m[1]!))
    : text
      ? [JSON.parse(text)].flat()
      : [];
  return { status: response.status, text, messages, session: response.headers.get("mcp-session-id") };
}

const AGENTS = `/mcp/agents/${UAPK}`;
const PURUTOS = "/mcp/purutos";

beforeAll(async () => {
  g = await startTestGatehouse();
  await registerMcpBot(g);
  for (const path of [AGENTS, PURUTOS]) {
    const opened = await post(path, {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "ids", version: "1" } },
    });
    sessions.set(path, opened.session!);
    await post(path, { jsonrpc: "2.0", method: "notifications/initialized" });
  }
});

afterAll(async () => {
  await g?.dispose();
});

const ping = (id: string | number, meta?: object) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: {
    name: "noop_ping",
    arguments: { params: {}, counterparty: "a@ok.example" },
    ...(meta ? { _meta: meta } : {}),
  },
});

/** The meta of the audit records of the MCP call answered with `id` (decision, intent, outcome). */
async function auditMetasOf(recorded: string): Promise<Record<string, unknown>[]> {
  const { records } = await exportedRecords(g);
  return records
    .map((r) => r.meta as Record<string, unknown> | undefined)
    .filter((meta): meta is Record<string, unknown> => meta?.mcp_request_id === recorded);
}

describe("an UNKNOWN_TOOL answer", () => {
  it.each([AGENTS, PURUTOS])("on %s quotes the tool's name clipped and its bidi override escaped", async (path) => {
    const name = `${"x".repeat(900_000)}\u202e`;
    const { messages, text } = await post(path, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name } });
    const result = messages[0].result;
    expect(result.isError).toBe(true);
    expect(result.structuredContent.code).toBe("UNKNOWN_TOOL");
    // Before: 1.8 MB (the name in the text and in the structured content), U+202E raw.
    expect(text.length).toBeLessThan(4_000);
    expect(text).not.toContain("\u202e");
    expect(result.content[0].text).toContain("…(900001 chars)");
  });
});

describe("the JSON-RPC id in the audit record", () => {
  it("is recorded as given when short and printable", async () => {
    await post(AGENTS, ping("short-id-1"));
    const metas = await auditMetasOf("short-id-1");
    expect(metas.map((m) => m.mcp_request_id_hashed)).toEqual(metas.map(() => undefined));
    expect(metas.length).toBeGreaterThanOrEqual(2);
  });

  it("is recorded as its SHA-256, flagged, when long or unprintable", async () => {
    for (const id of [`${"i".repeat(500_000)}`, "bidi\u202eid"]) {
      const { messages } = await post(AGENTS, ping(id));
      expect(messages[0].result.structuredContent).toMatchObject({ decision: "ALLOW" });
      const hash = createHash("sha256").update(id).digest("hex");
      const metas = await auditMetasOf(hash);
      // Before: the id as given, in the intent and in the outcome.
      expect(metas.length).toBeGreaterThanOrEqual(2);
      for (const meta of metas) expect(meta.mcp_request_id_hashed).toBe(true);
      const { text } = await exportedRecords(g);
      expect(text).not.toContain("\u202e");
      expect(text).not.toContain("i".repeat(1_000));
    }
  });
});

describe("the HTTP request's ids", () => {
  it("an agent's call is audited with the boundary's request_id, as on REST (JSON and SSE answers)", async () => {
    await post(AGENTS, ping("with-request-id"), { "x-request-id": "mcp-req-json" });
    await post(AGENTS, ping("with-request-id-sse", { progressToken: 7 }), { "x-request-id": "mcp-req-sse" });
    // An unsafe X-Request-Id is not recorded: the boundary's generated one is.
    await post(AGENTS, ping("with-unsafe-request-id"), { "x-request-id": "bad id with spaces" });
    for (const [call, requestId] of [
      ["with-request-id", "mcp-req-json"],
      ["with-request-id-sse", "mcp-req-sse"],
    ]) {
      const metas = await auditMetasOf(call!);
      expect(metas.length).toBeGreaterThanOrEqual(2);
      for (const meta of metas) expect(meta.request_id).toBe(requestId);
    }
    const unsafe = await auditMetasOf("with-unsafe-request-id");
    expect(unsafe.length).toBeGreaterThanOrEqual(2);
    for (const meta of unsafe) expect(meta.request_id).toMatch(/^req-/);
  });

  it("a puruto's invocation carries the caller's X-Request-Id and X-Correlation-Id, as on REST", async () => {
    const { messages } = await post(
      PURUTOS,
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "puruto-financial_balance", arguments: {} } },
      { "x-request-id": "mcp-puruto-req", "x-correlation-id": "mcp-puruto-corr" },
    );
    expect(messages[0].result.structuredContent.invocation).toMatchObject({
      request_id: "mcp-puruto-req",
      correlation_id: "mcp-puruto-corr",
    });
  });
});

describe("an agent's params", () => {
  it("holding more values than REST accepts are refused before anything is judged or audited", async () => {
    const params: Record<string, number> = {};
    for (let i = 0; i <= MAX_PARAMS_VALUES; i++) params[`k${i}`] = i;
    const before = (await exportedRecords(g)).records.length;
    const call = { jsonrpc: "2.0", id: "too-many", method: "tools/call" };
    const { messages } = await post(AGENTS, { ...call, params: { name: "noop_ping", arguments: { params } } });
    expect(messages[0].result.isError).toBe(true);
    expect(messages[0].result.structuredContent.code).toBe("VALIDATION_FAILED");
    expect(messages[0].result.content[0].text).toContain("more than 10,000 values");
    expect((await exportedRecords(g)).records.length).toBe(before);
  });
});
