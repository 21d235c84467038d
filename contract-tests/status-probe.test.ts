// The status probe: for every operation of generated/openapi.json, the common failures (400, 401, 403, 404, 409,
// 413, 415, 429) are produced exactly where the operation documents them — a documented status the server never
// sends fails here, and so does a status it sends that the operation does not document (the conformance tap of the
// test support also fails the suite on any undocumented answer). Driven by the document: a new operation is probed
// without touching this file.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openapi } from "./examples";
import { ORG_ID, startTestGatehouse, type TestGatehouse } from "./fixtures";

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document and API answers are walked as plain JSON
type Json = Record<string, any>;

interface Op {
  id: string;
  method: string;
  path: string;
  documented: Set<number>;
  apiKey: boolean;
  bearer: boolean;
  takesBody: boolean;
  /** The operation's first documented request body example (a body its validation accepts). */
  exampleBody: unknown;
  /** Path parameters other than org_id: an unknown value there can be "not found". */
  idParams: string[];
}

/** Operations whose body names a resource that must exist (the example names one that does not). */
const BODY_REFERENCES = new Set(["CapabilityTokens_issue"]);

const OTHER_ORG = "99999999-0000-4000-8000-000000000000";

function operations(): Op[] {
  const ops: Op[] = [];
  for (const [path, item] of Object.entries(openapi.paths as Record<string, Json>)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const security = ((op.security ?? openapi.security ?? []) as Json[]).flatMap((s) => Object.keys(s));
      const media = op.requestBody?.content?.["application/json"] as Json | undefined;
      const firstExample = Object.values((media?.examples ?? {}) as Record<string, Json>)[0]?.value;
      ops.push({
        id: op.operationId,
        method: method.toUpperCase(),
        path,
        documented: new Set(Object.keys(op.responses).map(Number)),
        apiKey: security.includes("ApiKeyAuth"),
        bearer: security.includes("BearerAuth"),
        takesBody: op.requestBody !== undefined,
        exampleBody: firstExample ?? (media ? {} : undefined),
        idParams: ((op.parameters ?? []) as Json[])
          .filter((p) => p.in === "path" && p.name !== "org_id")
          .map((p) => p.name as string),
      });
    }
  }
  return ops;
}

const OPS = operations();

/** The path with org_id = the test org (or `org`) and every other parameter an id nobody issued. */
function urlOf(op: Op, org = ORG_ID): string {
  return op.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    name === "org_id"
      ? org
      : name === "command"
        ? "help"
        : name === "version"
          ? "999" // an integer parameter: a version nobody wrote
          : `probe-missing-${name}`,
  );
}

interface Probe {
  query?: string;
  org?: string;
  credentials?: "none" | "valid" | "other-org";
  body?: { type: string; text: string } | "example" | "none";
  /** Headers over the probe's own (Host, Origin). */
  extraHeaders?: Record<string, string>;
}

async function probe(g: TestGatehouse, op: Op, p: Probe, otherOrgToken: string): Promise<Answer> {
  const headers: Record<string, string> = {};
  const credentials = p.credentials ?? "valid";
  if (credentials === "valid" && op.apiKey) headers["x-api-key"] = g.apiKey;
  else if (credentials === "valid" && op.bearer) headers.authorization = `Bearer ${g.operatorToken}`;
  // Another org's credential of the kind the operation takes: an API key where only keys are accepted.
  else if (credentials === "other-org" && op.apiKey && !op.bearer) headers["x-api-key"] = otherOrgKey;
  else if (credentials === "other-org") headers.authorization = `Bearer ${otherOrgToken}`;
  let body: string | undefined;
  const wanted = p.body ?? (op.takesBody ? "example" : "none");
  if (wanted === "example") {
    headers["content-type"] = "application/json";
    body = JSON.stringify(op.exampleBody ?? {});
  } else if (wanted !== "none") {
    headers["content-type"] = wanted.type;
    body = wanted.text;
  }
  return send(`${g.url}${urlOf(op, p.org)}${p.query ?? ""}`, op.method, { ...headers, ...p.extraHeaders }, body);
}

interface Answer {
  status: number;
  headers: { get(name: string): string | null };
}

/**
 * One request over node:http: fetch() refuses a body on GET (which the probe must send) and adds
 * `Cache-Control: no-cache` to a conditional request (which turns off the 304 the probe looks for).
 */
function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const answer: Answer = {
        status: res.statusCode ?? 0,
        headers: { get: (name) => (res.headers[name.toLowerCase()] as string | undefined) ?? null },
      };
      // A stream (the approvals feed) answers its status, then never ends: the status is all a probe needs.
      if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
        res.destroy();
        resolve(answer);
        return;
      }
      res.resume();
      res.once("end", () => resolve(answer));
      res.once("error", reject);
    });
    // The server may answer (and close) before it read a refused body.
    req.once("error", (err) => ((err as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(err)));
    req.end(body);
  });
}

/** Whether the concrete `url` is an instance of the documented `path` (a `{parameter}` is any one segment). */
function instanceOf(url: string, path: string): boolean {
  const sent = url.split("/");
  const documented = path.split("/");
  return sent.length === documented.length && documented.every((s, i) => s.startsWith("{") || s === sent[i]);
}

let g: TestGatehouse;
let limited: TestGatehouse;
let otherOrgToken: string;
/** An agent API key of another org (for the operations that take API keys only). */
let otherOrgKey: string;
const MAX_BODY = 2048;

beforeAll(async () => {
  [g, limited] = await Promise.all([
    startTestGatehouse({ env: { GATEHOUSE_MAX_BODY_BYTES: String(MAX_BODY) } }),
    // One request per API key per window: the second API-key request of the run is over the limit.
    startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_PER_API_KEY: "1", GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS: "600" } }),
  ]);
  otherOrgToken = await g.devIssuer!.mint({ sub: "operator@elsewhere", org: OTHER_ORG, roles: ["operator"] });
  otherOrgKey = (await g.apiKeys.create(OTHER_ORG, "probe: another org's agent")).key;
});

afterAll(async () => {
  await Promise.all([g?.dispose(), limited?.dispose()]);
});

/** Runs `probeOne` over every operation and compares "produced" with "documented" for `status`. */
async function expectExactly(
  status: number,
  probeOne: (op: Op) => Promise<Answer | undefined>,
  applies: (op: Op) => boolean = () => true,
): Promise<void> {
  const mismatches: string[] = [];
  for (const op of OPS.filter(applies)) {
    const res = await probeOne(op);
    if (!res) continue;
    const produced = res.status === status;
    const documented = op.documented.has(status);
    if (produced !== documented)
      mismatches.push(`${op.id}: answered ${res.status}, ${status} ${documented ? "documented" : "not documented"}`);
    else if (produced) expect(res.headers.get("content-type"), `${op.id} ${status}`).toMatch(/problem\+json/);
  }
  expect(mismatches).toEqual([]);
}

describe("status probe (every operation of the OpenAPI document)", () => {
  it("400: an unknown query parameter is refused by every operation, and every operation documents it", async () => {
    await expectExactly(400, (op) => probe(g, op, { query: "?gatehouse_probe=1" }, otherOrgToken));
  });

  it("400: a body sent to an operation that takes none is refused (never silently accepted)", async () => {
    const mismatches: string[] = [];
    for (const op of OPS.filter((o) => !o.takesBody)) {
      const res = await probe(g, op, { body: { type: "application/json", text: '{"x":1}' } }, otherOrgToken);
      if (res.status !== 400) mismatches.push(`${op.id}: ${res.status}`);
    }
    expect(mismatches).toEqual([]);
  });

  it("401: exactly the operations with security refuse a request without credentials", async () => {
    await expectExactly(401, (op) => probe(g, op, { credentials: "none" }, otherOrgToken));
  });

  it("403: exactly the org-scoped operations refuse an operator of another org", async () => {
    await expectExactly(
      403,
      (op) => probe(g, op, { credentials: "other-org" }, otherOrgToken),
      (op) => op.apiKey || op.bearer,
    );
  });

  it("404: exactly the operations that name a resource answer an unknown one with 404", async () => {
    const names = (op: Op) => op.idParams.length > 0 || BODY_REFERENCES.has(op.id);
    await expectExactly(404, (op) => probe(g, op, {}, otherOrgToken), names);
    // An operation that names no resource has nothing to be not found: it documents no 404.
    expect(OPS.filter((op) => !names(op) && op.documented.has(404)).map((op) => op.id)).toEqual([]);
  });

  it("409: a manifest registered twice conflicts; 409 is documented only where state can conflict", async () => {
    const manifest = JSON.stringify({
      uapk_id: "probe-bot",
      agent: { id: "probe-bot", name: "Probe Bot" },
      capabilities: ["note:write"],
      tools: { "note:write": { connector: { type: "noop" } } },
    });
    const headers = { authorization: `Bearer ${g.operatorToken}`, "content-type": "application/json" };
    const url = `${g.url}/api/v1/orgs/${ORG_ID}/manifests`;
    expect((await send(url, "POST", headers, manifest)).status).toBe(201);
    expect((await send(url, "POST", headers, manifest)).status).toBe(409);
    // Revoking is allowed from every status and idempotent: it never conflicts, so it documents no 409.
    const auth = { authorization: headers.authorization };
    const listed = (await (await fetch(`${url}?limit=500`, { headers: auth })).json()) as Json;
    const id = listed.items.find((m: Json) => m.uapk_id === "probe-bot").manifest_id;
    for (let i = 0; i < 2; i++) {
      const revoked = await fetch(`${url}/${id}/revoke`, { method: "POST", headers: auth });
      expect(revoked.status).toBe(200);
      expect(await revoked.json()).toMatchObject({ status: "revoked" });
    }
    expect(OPS.find((op) => op.id === "Manifests_revoke")!.documented.has(409)).toBe(false);
    // Idempotency keys (execute, batch), decisions on a decided approval, manifest ids and state transitions.
    expect(OPS.filter((op) => op.documented.has(409)).map((op) => op.id)).toEqual(
      expect.arrayContaining(["Gateway_execute", "Gateway_batch", "Approvals_approve", "Manifests_register"]),
    );
  });

  it("413: exactly the operations that take a body refuse one above GATEHOUSE_MAX_BODY_BYTES", async () => {
    const big = JSON.stringify({ pad: "x".repeat(MAX_BODY + 100) });
    await expectExactly(413, (op) => probe(g, op, { body: { type: "application/json", text: big } }, otherOrgToken));
  });

  it("415: exactly the operations that take a body refuse one that is not JSON", async () => {
    await expectExactly(415, (op) => probe(g, op, { body: { type: "text/plain", text: "hello" } }, otherOrgToken));
  });

  it("421: every operation refuses a Host and a browser Origin the gateway does not answer for (DNS rebinding)", async () => {
    await expectExactly(421, (op) =>
      probe(g, op, { extraHeaders: { host: "rebind.attacker.example:8000" } }, otherOrgToken),
    );
    await expectExactly(421, (op) =>
      probe(g, op, { extraHeaders: { origin: "http://rebind.attacker.example:8000" } }, otherOrgToken),
    );
    // The names a person on this machine types are answered, any port, whatever their case.
    for (const host of ["localhost:1", "LOCALHOST.", "127.0.0.1", "[::1]:8000"]) {
      const health = OPS.find((op) => op.id === "System_health")!;
      expect((await probe(g, health, { extraHeaders: { host, origin: `http://${host}` } }, otherOrgToken)).status).toBe(
        200,
      );
    }
  });

  it("429: exactly the API-key operations are rate limited, with Retry-After and the IETF RateLimit headers", async () => {
    const list = OPS.find((op) => op.id === "Purutos_list")!;
    expect((await probe(limited, list, {}, otherOrgToken)).status).toBe(200); // the one allowed request
    const mismatches: string[] = [];
    for (const op of OPS) {
      const res = await probe(limited, op, {}, otherOrgToken);
      const produced = res.status === 429;
      if (produced !== op.documented.has(429)) mismatches.push(`${op.id}: answered ${res.status}`);
      if (!produced) continue;
      expect(res.headers.get("content-type")).toMatch(/problem\+json/);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(res.headers.get("ratelimit-policy")).toBe('"api-key";q=1;w=600');
      expect(res.headers.get("ratelimit")).toMatch(/^"api-key";r=0;t=\d+$/);
    }
    expect(mismatches).toEqual([]);
  });

  it("405: every path answers a method none of its operations has (OPTIONS too) as the document's description says", async () => {
    // Documented once for every path (a 405 is no operation's answer: no operation has that method there).
    const described = String((openapi as Json).info.description);
    expect(described).toContain("`405` `METHOD_NOT_ALLOWED`");
    expect(described).toContain("`OPTIONS`");
    const mismatches: string[] = [];
    for (const path of new Set(OPS.map((op) => op.path))) {
      const op = OPS.find((o) => o.path === path)!;
      const url = urlOf(op);
      // The methods of every documented path this URL is an instance of (`/webhooks/deliveries` is also a
      // `/webhooks/{webhook_id}`), a GET answering HEAD too.
      const methods = new Set(
        OPS.filter((o) => instanceOf(url, o.path)).flatMap((o) => (o.method === "GET" ? ["GET", "HEAD"] : [o.method])),
      );
      const credentials = op.apiKey ? { "x-api-key": g.apiKey } : { authorization: `Bearer ${g.operatorToken}` };
      const others = ["OPTIONS", "GET", "POST", "PUT", "PATCH", "DELETE"].filter((m) => !methods.has(m));
      for (const method of others) {
        const res = await send(`${g.url}${url}`, method, credentials);
        const allow = (res.headers.get("allow") ?? "").split(", ").sort();
        const type = res.headers.get("content-type") ?? "";
        if (res.status !== 405 || !type.includes("problem+json") || allow.join() !== [...methods].sort().join())
          mismatches.push(`${method} ${path}: ${res.status} ${type}, Allow: ${allow.join(", ")}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it("GET /purutos: the ETag is documented and If-None-Match answers the documented 304", async () => {
    const first = await send(`${g.url}/purutos`, "GET", { "x-api-key": g.apiKey });
    const etag = first.headers.get("etag");
    expect(etag).toMatch(/^".+"$/);
    const again = await send(`${g.url}/purutos`, "GET", { "x-api-key": g.apiKey, "if-none-match": etag! });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    const list = OPS.find((op) => op.id === "Purutos_list")!;
    expect(list.documented.has(304)).toBe(true);
  });
});
