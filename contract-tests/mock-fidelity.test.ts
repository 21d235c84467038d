// The REST mock a frontend can trust: Prism on the published spec, called for every operation without
// `Prefer` (the default answer must be the operation's main success) and with `Prefer: code=N` for every
// documented error status (a whole problem+json body). Nothing Prism answers may carry its schema fillers
// (`"string"`, `0`-ish placeholders, the 2019-08-24 date): those appear only where the spec has no example.
//
// Responses that still have no example are listed in KNOWN_GAPS. The list can only shrink: a new response
// without an example fails, and so does a listed one that got its example (remove it from the list).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openapi } from "./examples";
import { describeMock, mockOperations, type MockOperation } from "./mock-examples";
import { startPrism, type PrismMock } from "./prism";

type Json = Record<string, unknown>;

/** `operationId status` of responses without a named example yet (each a filler Prism would generate). */
const KNOWN_GAPS = new Set<string>([
  // 503 when the shared database (PostgreSQL) does not answer.
  "Approvals_list 503",
  "Approvals_get 503",
  "Approvals_approve 503",
  "Approvals_deny 503",
  "CapabilityTokens_list 503",
  "CapabilityTokens_revoke 503",
  "Interactions_list 503",
  "Interactions_get 503",
  "Interactions_evidence 503",
  "Interactions_export 503",
  "Interactions_head 503",
  "Interactions_verify 503",
  "Manifests_list 503",
  "Manifests_register 503",
  "Manifests_get 503",
  "Manifests_activate 503",
  "Manifests_replay 503",
  "Manifests_revoke 503",
  "Manifests_suspend 503",
  "Manifests_versions 503",
  "Manifests_getVersion 503",
  "Webhooks_list 503",
  "Webhooks_create 503",
  "Webhooks_remove 503",
  "Webhooks_deliveries 503",
  // Responses documented by this wave's merges (408 body timeout, 400 on every operation, 403 on purutos, the
  // evidence / replay / versions / webhooks / sessions operations) whose examples are still to be written.
  "System_jwks 400",
  "Gateway_batch 408",
  "Gateway_evaluate 408",
  "Gateway_execute 408",
  "Approvals_approve 408",
  "Approvals_deny 408",
  "CapabilityTokens_issue 408",
  "CapabilityTokens_revoke 408",
  "Interactions_evidence 400",
  "Interactions_evidence 401",
  "Interactions_evidence 403",
  "Interactions_head 400",
  "Interactions_head 401",
  "Interactions_head 403",
  "Manifests_register 408",
  "Manifests_replay 401",
  "Manifests_replay 403",
  "Manifests_replay 408",
  "Manifests_replay 413",
  "Manifests_replay 415",
  "Manifests_versions 400",
  "Manifests_versions 401",
  "Manifests_versions 403",
  "Manifests_getVersion 400",
  "Manifests_getVersion 401",
  "Manifests_getVersion 403",
  "LiveSessions_list 200",
  "LiveSessions_list 400",
  "LiveSessions_list 401",
  "LiveSessions_list 403",
  "Webhooks_list 200",
  "Webhooks_list 400",
  "Webhooks_list 401",
  "Webhooks_list 403",
  "Webhooks_create 401",
  "Webhooks_create 403",
  "Webhooks_create 408",
  "Webhooks_create 413",
  "Webhooks_create 415",
  "Webhooks_remove 400",
  "Webhooks_remove 401",
  "Webhooks_remove 403",
  "Webhooks_remove 404",
  "Webhooks_deliveries 200",
  "Webhooks_deliveries 400",
  "Webhooks_deliveries 401",
  "Webhooks_deliveries 403",
  "System_asyncapiDocument 400",
  "System_docs 400",
  "System_websocketDocs 400",
  "System_health 400",
  "System_livez 400",
  "System_metrics 400",
  "System_openapiDocument 400",
  "Purutos_list 400",
  "Purutos_list 403",
  "Purutos_get 400",
  "Purutos_get 403",
  "Purutos_invoke 403",
  "Purutos_invoke 408",
  "System_readyz 400",
  // Operator reads and changes: a success with content needs state made through the API first (a setup per example in contract-tests/setups/).
  "Approvals_list 200",
  "Approvals_get 200",
  "Approvals_approve 200",
  "Approvals_deny 200",
  "ApprovalEvents_stream 200",
  "CapabilityTokens_list 200",
  "Interactions_list 200",
  "Interactions_get 200",
  "Interactions_export 200",
  "Interactions_verify 200",
  "Manifests_list 200",
  "Manifests_get 200",
  "Manifests_activate 200",
  "Manifests_revoke 200",
  "Manifests_suspend 200",
  // Documents and text bodies (JWKS, metrics, the contract itself, the docs pages): the live value is not a stable example.
  "System_jwks 200",
  "System_asyncapiDocument 200",
  "System_docs 200",
  "System_websocketDocs 200",
  "System_metrics 200",
  "System_openapiDocument 200",
  // 400 validation failures: the conformance work (branch conform) is changing which requests are refused; their examples follow it.
  "Gateway_getApproval 400",
  "Gateway_batch 400",
  "Gateway_evaluate 400",
  "Gateway_execute 400",
  "Gateway_health 400",
  "Approvals_list 400",
  "Approvals_get 400",
  "Approvals_approve 400",
  "Approvals_deny 400",
  "ApprovalEvents_stream 400",
  "CapabilityTokens_list 400",
  "CapabilityTokens_issue 400",
  "CapabilityTokens_revoke 400",
  "Interactions_list 400",
  "Interactions_get 400",
  "Interactions_export 400",
  "Interactions_verify 400",
  "Manifests_list 400",
  "Manifests_get 400",
  "Manifests_activate 400",
  "Manifests_revoke 400",
  "Manifests_suspend 400",
  // 409 conflicts: need state (a decided approval, a taken uapk_id, a revoked manifest, a reused idempotency key).
  "Gateway_batch 409",
  "Approvals_approve 409",
  "Approvals_deny 409",
  "Manifests_register 409",
  "Manifests_activate 409",
  "Manifests_revoke 409",
  "Manifests_suspend 409",
  // 413 / 415 / 429 / 503: limits and outages a replay cannot provoke on a default server without a setup.
  "Gateway_getApproval 429",
  "Gateway_getApproval 503",
  "Gateway_batch 413",
  "Gateway_batch 415",
  "Gateway_batch 429",
  "Gateway_batch 503",
  "Gateway_evaluate 413",
  "Gateway_evaluate 415",
  "Gateway_evaluate 429",
  "Gateway_evaluate 503",
  "Gateway_execute 413",
  "Gateway_execute 415",
  "Gateway_execute 429",
  "Gateway_execute 503",
  "Gateway_health 503",
  "Approvals_approve 413",
  "Approvals_approve 415",
  "Approvals_deny 413",
  "Approvals_deny 415",
  "CapabilityTokens_issue 413",
  "CapabilityTokens_issue 415",
  "CapabilityTokens_issue 503",
  "CapabilityTokens_revoke 413",
  "CapabilityTokens_revoke 415",
  "Manifests_register 413",
  "Manifests_register 415",
  "System_docs 503",
  "System_websocketDocs 503",
  "Purutos_list 429",
  "Purutos_get 429",
  "Purutos_invoke 413",
  "Purutos_invoke 415",
  "Purutos_invoke 429",
  "System_readyz 503",
  // 403 on the gateway: documented but not reachable today (decided on branch conform).
  // 404 on issue: a body naming a manifest this org does not have (its detail text is not pinned yet).
  "CapabilityTokens_issue 404",
]);

/** The main success each operation with several success examples must default to. */
const MAIN_SUCCESS: Record<string, (body: Json) => void> = {
  Gateway_execute: (body) => expect(body).toMatchObject({ decision: "ALLOW", executed: true }),
  Purutos_invoke: (body) => expect(body).toMatchObject({ status: "accepted", invocation: { status: "ok" } }),
};

const ops = mockOperations();
let prism: PrismMock;

beforeAll(async () => {
  prism = await startPrism(4810 + Math.floor(Math.random() * 400));
}, 90_000);
afterAll(async () => prism?.stop());

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
  return { status: res.status, contentType, text, body: contentType.includes("json") ? JSON.parse(text) : text };
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
    expect(res.body).toMatchObject({ detail: expect.any(String) });
  });
});
