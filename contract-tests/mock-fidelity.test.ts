// The REST mock a frontend can trust: Prism on the published spec, called for every operation without
// `Prefer` (the default answer must be the operation's main success) and with `Prefer: code=N` for every
// documented error status (a whole problem+json body). Nothing Prism answers may carry its schema fillers
// (`"string"`, `0`-ish placeholders, the 2019-08-24 date): those appear only where the spec has no example.
//
// Responses that still have no example are listed in KNOWN_GAPS. The list can only shrink: a new response
// without an example fails, and so does a listed one that got its example (remove it from the list).
import { beforeAll, describe, expect, inject, it } from "vitest";
import { openapi } from "./examples";
import { describeMock, mockOperations, type MockOperation } from "./mock-examples";
import { waitForHttp } from "./prism";

type Json = Record<string, unknown>;

/** `operationId status` of responses without a named example yet (each a filler Prism would generate). */
const KNOWN_GAPS = new Set<string>([
  // Streams a replay cannot hold still: the approvals feed never ends (an example has no last byte); the JSONL
  // export ends with a signature over this run's chain.
  "ApprovalEvents_stream 200",
  "Interactions_export 200",
  // Documents and text bodies (JWKS, metrics, the contract itself, the docs pages): the live value is not a stable example.
  "System_jwks 200",
  "System_asyncapiDocument 200",
  "System_docs 200",
  "System_websocketDocs 200",
  "System_metrics 200",
  "System_openapiDocument 200",
]);

/** Response headers without an example yet (none now: add one only with the reason it cannot have one). */
const KNOWN_HEADER_GAPS = new Set<string>();

/** The challenge the gateway sends with a 401 of an operation taking `scheme` (src/http/auth.ts, boundary/bearer.ts). */
const CHALLENGES: Record<string, string> = {
  ApiKeyAuth: 'ApiKey realm="gatehouse", header="X-API-Key"',
  BearerAuth: 'Bearer realm="gatehouse"',
};

/** The main success each operation with several success examples must default to. */
const MAIN_SUCCESS: Record<string, (body: Json) => void> = {
  Gateway_execute: (body) => expect(body).toMatchObject({ decision: "ALLOW", executed: true }),
  Purutos_invoke: (body) => expect(body).toMatchObject({ status: "accepted", invocation: { status: "ok" } }),
};

const ops = mockOperations();
const prism = { url: inject("prismUrl") };

// Prism is launched once by global-setup.ts; this waits until it answers.
beforeAll(() => waitForHttp(prism.url), 200_000);

/** Prism's generated placeholders, found anywhere in a body. */
function fillers(value: unknown, at = ""): string[] {
  if (typeof value === "string") {
    return value === "string" || value.includes("2019-08-24") ? [`${at || "/"}: ${JSON.stringify(value)}`] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => fillers(v, `${at}/${i}`));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => fillers(v, `${at}/${k}`));
  return [];
}

/** A valid request for the operation, from its documented examples (the first value of each). */
function requestFor(op: MockOperation): { url: string; init: RequestInit } {
  const spec = (openapi.paths as Record<string, Record<string, Json>>)[op.path]![op.method.toLowerCase()]!;
  const params = (spec.parameters ?? []) as Json[];
  const first = (p: Json) => Object.values((p.examples ?? {}) as Record<string, Json>)[0]?.value;
  const path = op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const p = params.find((x) => x.in === "path" && x.name === name);
    return encodeURIComponent(String((p && first(p)) ?? "example"));
  });
  const headers: Record<string, string> = { "X-API-Key": "mock-test-key", Authorization: "Bearer mock.test.token" };
  const media = ((spec.requestBody as Json | undefined)?.content as Record<string, Json> | undefined)?.[
    "application/json"
  ];
  const bodyExample = Object.values((media?.examples ?? {}) as Record<string, Json>)[0]?.value;
  const body = bodyExample === undefined ? undefined : JSON.stringify(bodyExample);
  if (body) headers["Content-Type"] = "application/json";
  return { url: `${prism.url}${path}`, init: { method: op.method, headers, ...(body ? { body } : {}) } };
}

async function call(op: MockOperation, prefer?: string) {
  const { url, init } = requestFor(op);
  const headers = { ...(init.headers as Record<string, string>), ...(prefer ? { Prefer: prefer } : {}) };
  const res = await fetch(url, { ...init, headers });
  const text = await res.text();
  const contentType = res.headers.get("content-type") ?? "";
  const body = contentType.includes("json") ? JSON.parse(text) : text;
  return { status: res.status, headers: res.headers, contentType, text, body, headerFillers: headerFillers(op, res) };
}

/**
 * Documented response headers that Prism filled from a bare schema (`ETag: string`, `Retry-After: 0`), where the
 * gateway sends a real value a client acts on. Headers of responses listed in KNOWN_GAPS are not looked at, nor
 * those listed in KNOWN_HEADER_GAPS.
 */
function headerFillers(op: MockOperation, res: Response): string[] {
  if (KNOWN_GAPS.has(`${op.operationId} ${res.status}`)) return [];
  const spec = (openapi.paths as Record<string, Record<string, Json>>)[op.path]![op.method.toLowerCase()]!;
  const response = (spec.responses as Record<string, Json>)[String(res.status)];
  const documented = (response?.headers ?? {}) as Record<string, Json>;
  return Object.keys(documented)
    .filter((name) => !KNOWN_HEADER_GAPS.has(name))
    .flatMap((name) => {
      const value = res.headers.get(name);
      return value === "string" || value === "0" ? [`${name}: ${value}`] : [];
    });
}

describe("the REST mock", () => {
  it("lists the example names of every operation (what `make mock` prints)", () => {
    const listing = describeMock(ops);
    for (const op of ops) expect(listing).toContain(`${op.method} ${op.path} — ${op.summary}`);
    expect(listing).toContain("seed003_execute_allow (default)");
  });

  it("has a named example for every documented response, except the listed gaps (which only shrink)", () => {
    const missing = ops.flatMap((op) =>
      op.responses.filter((r) => r.contentType && r.examples.length === 0).map((r) => `${op.operationId} ${r.status}`),
    );
    expect(
      missing.filter((m) => !KNOWN_GAPS.has(m)),
      "responses without an example",
    ).toEqual([]);
    expect(
      [...KNOWN_GAPS].filter((g) => !missing.includes(g)),
      "listed gaps that have an example now",
    ).toEqual([]);
  });

  it.each(ops.map((op) => [`${op.method} ${op.path}`, op] as const))(
    "%s: the default answer is the main success",
    async (_label, op) => {
      const success = op.responses.find((r) => r.status < 300);
      if (!success || KNOWN_GAPS.has(`${op.operationId} ${success.status}`)) return;
      const res = await call(op);
      expect(res.status, res.text.slice(0, 300)).toBe(success.status);
      expect(fillers(res.body)).toEqual([]);
      expect(res.headerFillers, "documented headers Prism filled").toEqual([]);
      MAIN_SUCCESS[op.operationId]?.(res.body as Json);
    },
  );

  const errors = ops.flatMap((op) =>
    op.responses
      .filter((r) => r.status >= 400 && r.examples.length > 0)
      .map((r) => [`${op.method} ${op.path} ${r.status}`, op, r.status] as const),
  );
  it.each(errors)("%s: a whole problem+json body", async (_label, op, status) => {
    const res = await call(op, `code=${status}`);
    expect(res.status, res.text.slice(0, 300)).toBe(status);
    expect(res.contentType).toContain("application/problem+json");
    expect(fillers(res.body)).toEqual([]);
    expect(res.headerFillers, "documented headers Prism filled").toEqual([]);
    expect(res.body).toMatchObject({ detail: expect.any(String) });
  });

  // A frontend shows the sign-in its 401 asks for: the mock must name the operation's own scheme, as the gateway does
  // (it sent the schema filler `WWW-Authenticate: string` when one shared 401 model served both schemes).
  const unauthorized = ops.filter((op) => op.responses.some((r) => r.status === 401));
  it.each(unauthorized.map((op) => [`${op.method} ${op.path}`, op] as const))(
    "%s: a 401 challenges with the operation's own scheme",
    async (_label, op) => {
      const spec = (openapi.paths as Record<string, Record<string, Json>>)[op.path]![op.method.toLowerCase()]!;
      const schemes = ((spec.security ?? []) as Json[]).flatMap((requirement) => Object.keys(requirement));
      expect(schemes).toHaveLength(1);
      const res = await call(op, "code=401");
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(CHALLENGES[schemes[0]!]);
    },
  );
});
