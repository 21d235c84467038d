// The request id is decided once at the boundary: the X-Request-Id response header, the body (the puruto
// invocation envelope, problem+json), the request log line and the audit record carry the same value.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditLog } from "../../core/audit/audit-log";
import { emailRequest, ORG, supportBot } from "../../core/policy/test-fixtures";
import type { Db } from "../../core/store/sqlite";
import { openMigratedDatabase } from "../../core/store/test-support";
import { actionsHandlers } from "../../faces/actions/handlers";
import { createGovernanceEngine } from "../../core/governance";
import { purutosConfigFromEnv } from "../../faces/purutos/config";
import { createDiscovery, type Discovery } from "../../faces/purutos/discovery";
import { purutosHandlers } from "../../faces/purutos/handlers";
import { createInvoker } from "../../faces/purutos/invoker";
import { createApp } from "../app";
import type { Authenticator } from "../auth";
import type { HandlerGroup } from "../handlers";
import { loadSpec } from "../spec";

const DEMO = path.resolve(import.meta.dirname, "../../../examples/ecosystem");
const agent: Authenticator = { authenticate: async () => ({ kind: "api_key", keyId: "k1", orgId: ORG }) };

const logLines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
    done();
  },
});

let server: Server;
let base: string;
let discovery: Discovery;
let db: Db;
let audit: ReturnType<typeof createAuditLog>;

beforeAll(async () => {
  db = await openMigratedDatabase(":memory:");
  audit = createAuditLog(db);
  const config = purutosConfigFromEnv({ GATEHOUSE_ECOSYSTEM_ROOT: DEMO, PURUTO_GATEWAY_API_KEY: "k" });
  discovery = createDiscovery(config);
  const actions = createGovernanceEngine({ db, audit });
  actions.manifests.register(ORG, supportBot());
  // Only the two faces this test drives; the others are not reached.
  const handlers = {
    ...actionsHandlers({ actions }),
    ...purutosHandlers({ discovery, invoker: createInvoker(config, discovery) }),
  } satisfies HandlerGroup;
  const app = createApp({
    spec: loadSpec(),
    handlers,
    auth: agent,
    logger: pino({ level: "info" }, sink),
    maxBodyBytes: 1 << 20,
  });
  server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  discovery.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function loggedRequestIds(): unknown[] {
  return logLines.filter((l) => l.msg === "request").map((l) => l.request_id);
}

describe("one request id per request", () => {
  it.each([
    ["no X-Request-Id", {}],
    ["an unusable X-Request-Id", { "X-Request-Id": "not safe to log" }],
  ])(
    "with %s, the puruto invocation envelope carries the id of the response header and the log",
    async (_name, headers) => {
      const response = await fetch(`${base}/purutos/puruto-data/status`, { method: "POST", headers });
      const body = (await response.json()) as { invocation: { request_id: string } };
      const id = response.headers.get("x-request-id");
      expect(id).toMatch(/^req-/);
      expect(body.invocation.request_id).toBe(id);
      expect(loggedRequestIds()).toContain(id);
    },
  );

  it("a usable X-Request-Id is kept everywhere", async () => {
    const response = await fetch(`${base}/purutos/puruto-data/status`, {
      method: "POST",
      headers: { "X-Request-Id": "trace-42" },
    });
    const body = (await response.json()) as { invocation: { request_id: string } };
    expect(response.headers.get("x-request-id")).toBe("trace-42");
    expect(body.invocation.request_id).toBe("trace-42");
  });

  it("an executed action's audit records and a problem body name the response's request id", async () => {
    const response = await fetch(`${base}/api/v1/gateway/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(emailRequest()),
    });
    expect(response.status).toBe(200);
    const id = response.headers.get("x-request-id");
    const records = audit.list(ORG).records.filter((r) => r.kind === "intent" || r.kind === "outcome");
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) expect((record.meta as { request_id?: string } | null)?.request_id).toBe(id);
    expect(loggedRequestIds()).toContain(id);

    const missing = await fetch(`${base}/purutos/nobody-here`);
    const problem = (await missing.json()) as { request_id: string; code: string };
    expect(problem).toMatchObject({ code: "PURUTO_NOT_FOUND", request_id: missing.headers.get("x-request-id") });
  });
});
