// Traces, end to end: a real Gatehouse with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a local OTLP/HTTP receiver
// (a node:http server decoding the exporter's JSON). An execute that is ALLOWed, one that is DENIED, a puruto
// command and an IDE WebSocket session each arrive as spans with the attributes an operator searches by; the
// request log line and the audit record carry the request's trace id.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const UAPK = "traced-bot";

/** One span as the receiver decoded it: attributes flattened to plain values. */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
};

function plain(value: AnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plain);
  return undefined;
}

/** The OTLP/HTTP JSON body (ExportTraceServiceRequest) → spans. */
function decode(body: unknown): ReceivedSpan[] {
  const request = body as {
    resourceSpans?: {
      scopeSpans?: {
        spans?: (Omit<ReceivedSpan, "attributes"> & { attributes?: { key: string; value: AnyValue }[] })[];
      }[];
    }[];
  };
  return (request.resourceSpans ?? []).flatMap((r) =>
    (r.scopeSpans ?? []).flatMap((s) =>
      (s.spans ?? []).map((span) => ({
        ...span,
        parentSpanId: span.parentSpanId ?? "",
        attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, plain(a.value)])),
      })),
    ),
  );
}

const spans: ReceivedSpan[] = [];
const contentTypes = new Set<string>();
let receiver: Server;
let stopTracing: (() => Promise<void>) | undefined;
let flush: () => Promise<void> = async () => {};
let gatehouse: { url: string; close(): Promise<void> } | undefined;
let runtime: { url: string; close(): Promise<void> } | undefined;
let dataDir: string;
let apiKey: string;
let operatorToken: string;
let ideToken: string;
let orgId: string;
const logLines: Record<string, unknown>[] = [];

async function startReceiver(): Promise<string> {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        contentTypes.add(String(req.headers["content-type"]));
        spans.push(...decode(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const endpoint = await startReceiver();
  // Before any Gatehouse module is loaded: the logger decides at load time whether lines carry trace ids.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
  process.env.OTEL_SERVICE_NAME = "gatehouse-tracing-test";
  const { startTracing } = await import("../core/tracing");
  const tracing = await startTracing(process.env);
  stopTracing = () => tracing.shutdown();
  flush = () => tracing.flush();

  const [{ loadConfig }, { createLogger }, { startGatehouse }, { startAgentRuntime }, fixtures] = await Promise.all([
    import("../config"),
    import("../core/log/logger"),
    import("../server"),
    import("../../examples/agent-runtime/server"),
    import("../../contract-tests/fixtures"),
  ]);
  runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 1 });
  dataDir = mkdtempSync(join(tmpdir(), "gatehouse-tracing-"));
  apiKey = fixtures.API_KEY;
  orgId = fixtures.ORG_ID;
  const env: Record<string, string> = {
    GATEHOUSE_DATA_DIR: dataDir,
    PORT: "0",
    PURUTO_GATEWAY_API_KEY: apiKey,
    GATEHOUSE_ECOSYSTEM_ROOT: fixtures.ECOSYSTEM,
    PURUTO_DATA_PATH: join(fixtures.ECOSYSTEM, "puruto-data"),
    GATEHOUSE_DEFAULT_ORG: fixtures.ORG_ID,
    GATEHOUSE_MANIFEST_DIR: join(ROOT, "examples/manifests"),
    AGENT_RUNTIME_URL: runtime.url,
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    LOG_LEVEL: "info",
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ env, destination: sink });
  const started = await startGatehouse(loadConfig(env), logger, env);
  gatehouse = started;
  operatorToken = await started.devIssuer!.mint({ sub: "op@trace", org: fixtures.ORG_ID, roles: ["operator"] });
  ideToken = await started.devIssuer!.mint({ sub: "dev@trace", org: fixtures.ORG_ID, roles: ["developer"] });
  const registered = await call("POST", `/api/v1/orgs/${fixtures.ORG_ID}/manifests`, {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Traced Bot" },
    capabilities: ["crm:read"],
    constraints: { max_actions_per_hour: 100 },
    tools: { "crm:read": { connector: { type: "echo" } } },
  });
  expect(registered.status).toBeLessThan(300);
}, 90_000);

afterAll(async () => {
  await gatehouse?.close();
  await runtime?.close();
  await stopTracing?.();
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  delete process.env.OTEL_SERVICE_NAME;
  await new Promise<void>((ok) => (receiver ? receiver.close(() => ok()) : ok()));
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const auth: Record<string, string> = path.startsWith("/api/v1/orgs/")
    ? { authorization: `Bearer ${operatorToken}` }
    : { "x-api-key": apiKey };
  const res = await fetch(`${gatehouse!.url}${path}`, {
    method,
    headers: { ...auth, ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    text,
    headers: res.headers,
    body: /^application\/(problem\+)?json/.test(res.headers.get("content-type") ?? "") ? JSON.parse(text) : text,
  };
}

/** Waits until the spans matching `pred` have arrived (the SDK exports in batches; flush forces one). */
async function spansWhere(pred: (s: ReceivedSpan) => boolean, atLeast = 1): Promise<ReceivedSpan[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await flush();
    const found = spans.filter(pred);
    if (found.length >= atLeast || Date.now() > deadline) return found;
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

const execute = (tool: string, requestId: string) =>
  call(
    "POST",
    "/api/v1/gateway/execute",
    { uapk_id: UAPK, agent_id: UAPK, action: { type: "crm", tool, params: { id: "c-1" } } },
    { "x-request-id": requestId },
  );

describe("OpenTelemetry traces over OTLP/HTTP", () => {
  it("an ALLOWed execute: a server span with HTTP attributes, its policy decision and its connector call in one trace", async () => {
    const reply = await execute("read", "req-trace-allow");
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ decision: "ALLOW", executed: true });

    const [server] = await spansWhere((s) => s.attributes["gatehouse.request_id"] === "req-trace-allow");
    expect(server).toBeDefined();
    expect(server!.name).toBe("POST /api/v1/gateway/execute");
    expect(server!.kind).toBe(2); // SERVER
    expect(server!.attributes).toMatchObject({
      "http.request.method": "POST",
      "url.path": "/api/v1/gateway/execute",
      "http.route": "/api/v1/gateway/execute",
      "http.response.status_code": 200,
      "url.scheme": "http",
    });
    const inTrace = await spansWhere((s) => s.traceId === server!.traceId, 3);
    const decision = inTrace.find((s) => s.name === "policy.decide");
    expect(decision?.parentSpanId).toBe(server!.spanId);
    expect(decision?.attributes).toMatchObject({
      "gatehouse.decision": "ALLOW",
      "gatehouse.reason_codes": [],
      "gatehouse.uapk_id": UAPK,
      "gatehouse.action.type": "crm",
      "gatehouse.action.tool": "read",
    });
    const connector = inTrace.find((s) => s.name === "connector echo");
    expect(connector?.kind).toBe(3); // CLIENT
    expect(connector?.attributes).toMatchObject({
      "gatehouse.connector.type": "echo",
      "gatehouse.tool": "crm:read",
      "gatehouse.connector.success": true,
    });
    expect(contentTypes).toContain("application/json");

    // The request's log line and its audit records name the same trace.
    const line = logLines.find((l) => l.msg === "request" && l.request_id === "req-trace-allow");
    expect(line).toMatchObject({ trace_id: server!.traceId });
    const exported = await call("GET", `/api/v1/orgs/${orgId}/interactions/export`);
    expect(exported.status).toBe(200);
    const records = exported.text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { interaction_id: string; kind: string; meta: { trace_id?: string } })
      .filter((r) => r.interaction_id === reply.body.interaction_id);
    expect(records.map((r) => r.kind).sort()).toEqual(["intent", "outcome"]);
    for (const record of records) expect(record.meta.trace_id).toBe(server!.traceId);
  });

  it("a DENY: the decision span carries DENY and the reason codes", async () => {
    const reply = await execute("delete", "req-trace-deny");
    expect(reply.body).toMatchObject({ decision: "DENY", executed: false });
    const [server] = await spansWhere((s) => s.attributes["gatehouse.request_id"] === "req-trace-deny");
    const [decision] = await spansWhere((s) => s.traceId === server!.traceId && s.name === "policy.decide");
    expect(decision!.attributes["gatehouse.decision"]).toBe("DENY");
    expect(decision!.attributes["gatehouse.reason_codes"]).toEqual(
      (reply.body.reasons as { code: string }[]).map((r) => r.code),
    );
    expect(decision!.attributes["gatehouse.reason_codes"]).not.toEqual([]);
    // Nothing ran: no connector span in this trace.
    expect(spans.filter((s) => s.traceId === server!.traceId && s.name.startsWith("connector"))).toEqual([]);
  });

  it("continues a caller's W3C traceparent", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = "00f067aa0ba902b7";
    const reply = await call("GET", "/livez", undefined, {
      traceparent: `00-${traceId}-${parent}-01`,
      "x-request-id": "req-trace-parent",
    });
    expect(reply.status).toBe(200);
    const [server] = await spansWhere((s) => s.attributes["gatehouse.request_id"] === "req-trace-parent");
    expect(server).toMatchObject({ traceId, parentSpanId: parent, name: "GET /livez" });
  });

  it("a puruto command: a span naming the puruto, the command, its ids and status", async () => {
    const reply = await call("POST", "/purutos/puruto-data/status", {}, { "x-request-id": "req-trace-puruto" });
    expect(reply.status).toBe(200);
    const [command] = await spansWhere((s) => s.name === "puruto status");
    expect(command!.attributes).toMatchObject({
      "gatehouse.puruto.name": "puruto-data",
      "gatehouse.puruto.command": "status",
      "gatehouse.puruto.status": reply.body.invocation.status,
      "gatehouse.request_id": "req-trace-puruto",
    });
    const [server] = await spansWhere((s) => s.spanId === command!.parentSpanId);
    expect(server!.attributes["http.route"]).toBe("/purutos/{name}/{command}");
  });

  it("a WebSocket session: one span from upgrade to close, with the session, the user and the close code", async () => {
    const { openTypedIde } = await import("../faces/sessions/test-support");
    const ide = await openTypedIde(gatehouse!.url, "traced-session", ideToken);
    ide.session.send({ type: "user_message", content: "write file lib/app.dart", message_id: "m-1" });
    await ide.next((f) => f.type === "tool_call");
    ide.ws.close(1000, "done");
    const [session] = await spansWhere((s) => s.name === "ws.session");
    expect(session!.kind).toBe(2);
    expect(session!.attributes).toMatchObject({
      "gatehouse.session_id": "traced-session",
      "enduser.id": "dev@trace",
      "gatehouse.ws.close_code": 1000,
    });
    // Sessions are per user: the key the audit records and the runtime see is the id plus its owner's tag.
    expect(session!.attributes["gatehouse.session_key"]).toMatch(/^traced-session~[0-9a-f]{32}$/);
    // The governed tool call the runtime asked for was decided inside the session's trace.
    const decisions = await spansWhere((s) => s.traceId === session!.traceId && s.name === "policy.decide");
    expect(decisions[0]?.attributes["gatehouse.action.tool"]).toBeDefined();
  });
});
