// Manifests over the operator API: every change is a version (content hash, author, time) that decisions name;
// manifest ids are per org (another org's id is "not found" exactly like an unused one, and may be chosen again);
// on an org route, who may act is decided before the body is validated (403 before 400).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { sha256Canonical } from "../../../core/audit/canonical";
import { expectMatchesSpec } from "../../../test-support/spec-check";
import { agent, executeBody, exportedRecords, operator } from "../../../test-support/http";

let g: TestGatehouse;
let otherOperator: string;
let developer: string;
const OTHER_ORG = "org-b";

const bot = (uapkId: string, extra: Record<string, unknown> = {}) => ({
  uapk_id: uapkId,
  agent: { id: uapkId, name: "Versioned" },
  capabilities: ["crm:read"],
  tools: { "crm:read": { connector: { type: "echo" } } },
  ...extra,
});

async function asOther(method: string, path: string, body?: unknown, token = otherOperator) {
  const res = await fetch(`${g.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  g = await startTestGatehouse();
  otherOperator = await g.devIssuer!.mint({ sub: "op@b", org: OTHER_ORG, roles: ["operator"] });
  developer = await g.devIssuer!.mint({ sub: "ide@acme", org: g.orgId, roles: ["developer"] });
});
afterAll(async () => {
  await g?.dispose();
});

describe("manifest versions", () => {
  it("registration, suspension and re-activation are versions 1–3, listed and fetchable with their content", async () => {
    const input = bot("versioned-bot", { manifest_id: "versioned-1" });
    const registered = await operator(g).post("/manifests", input);
    expect(registered.status).toBe(201);
    const { manifest_id: _id, ...content } = input as typeof input & { manifest_id?: string };
    expect(registered.body).toMatchObject({ version: 1, content_hash: sha256Canonical(content) });
    expect((await operator(g).post("/manifests/versioned-1/suspend")).body.version).toBe(2);
    expect((await operator(g).post("/manifests/versioned-1/activate")).body.version).toBe(3);

    const list = await operator(g).get("/manifests/versioned-1/versions");
    expect(list.status).toBe(200);
    expectMatchesSpec("Manifests_versions", 200, list.body);
    expect(
      list.body.items.map((v: any) => [
        v.version,
        v.change,
        v.status,
        v.author,
        v.content_hash === sha256Canonical(content),
      ]),
    ).toEqual([
      [1, "registered", "active", "operator@contract", true],
      [2, "suspended", "suspended", "operator@contract", true],
      [3, "activated", "active", "operator@contract", true],
    ]);
    const first = await operator(g).get("/manifests/versioned-1/versions/1");
    expectMatchesSpec("Manifests_getVersion", 200, first.body);
    expect(first.body.content).toEqual(content);
    const missing = await operator(g).get("/manifests/versioned-1/versions/9");
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("MANIFEST_VERSION_NOT_FOUND");
  });

  it("a decision records the manifest version and content hash it used (signed in the audit record)", async () => {
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody("versioned-bot", { type: "crm", tool: "read", params: { id: 1 } }),
    );
    expect(reply.body.decision).toBe("ALLOW");
    const manifestCheck = reply.body.policy_trace.checks.find((c: any) => c.check === "manifest_validation");
    expect(manifestCheck.details).toMatchObject({ manifest_id: "versioned-1", manifest_version: 3 });
    const { records } = await exportedRecords(g);
    const intent = records.find((r) => r.interaction_id === reply.body.interaction_id && r.kind === "intent");
    const signed = intent?.policy_trace.checks.find((c: any) => c.check === "manifest_validation");
    const v3 = await operator(g).get("/manifests/versioned-1/versions/3");
    expect(signed.details).toEqual({
      manifest_id: "versioned-1",
      manifest_version: 3,
      manifest_hash: v3.body.content_hash,
    });
  });
});

describe("manifest ids are per org", () => {
  it("another org's id answers 404 exactly like an unused one, on every manifest route", async () => {
    const taken = `/api/v1/orgs/${OTHER_ORG}/manifests/versioned-1`;
    const unused = `/api/v1/orgs/${OTHER_ORG}/manifests/never-used`;
    for (const [method, suffix] of [
      ["GET", ""],
      ["GET", "/versions"],
      ["GET", "/versions/1"],
      ["POST", "/suspend"],
      ["POST", "/replay"],
    ] as const) {
      const body = suffix === "/replay" ? { candidate: bot("versioned-bot") } : undefined;
      const a = await asOther(method, taken + suffix, body);
      const b = await asOther(method, unused + suffix, body);
      expect(a.status, `${method} ${suffix}`).toBe(404);
      expect(b.status).toBe(404);
      const strip = (p: any) => ({
        ...p,
        detail: p.detail.replace("versioned-1", "ID").replace("never-used", "ID"),
        instance: undefined,
        request_id: undefined,
      });
      expect(strip(a.body)).toEqual(strip(b.body));
    }
  });

  it("two orgs may use the same id; neither sees or changes the other's", async () => {
    const mine = await asOther(
      "POST",
      `/api/v1/orgs/${OTHER_ORG}/manifests`,
      bot("b-bot", { manifest_id: "versioned-1" }),
    );
    expect(mine.status).toBe(201);
    expect(mine.body).toMatchObject({ manifest_id: "versioned-1", org_id: OTHER_ORG, uapk_id: "b-bot", version: 1 });
    expect((await asOther("POST", `/api/v1/orgs/${OTHER_ORG}/manifests/versioned-1/revoke`)).body.status).toBe(
      "revoked",
    );
    const original = await operator(g).get("/manifests/versioned-1");
    expect(original.body).toMatchObject({ uapk_id: "versioned-bot", status: "active", version: 3 });
    const again = await asOther(
      "POST",
      `/api/v1/orgs/${OTHER_ORG}/manifests`,
      bot("b-bot-2", { manifest_id: "versioned-1" }),
    );
    expect(again.status).toBe(409);
  });
});

describe("org routes: 403 before 400", () => {
  it.each([
    ["POST", "/manifests", { uapk_id: 7 }],
    ["POST", "/manifests/versioned-1/replay", { candidate: "not a manifest" }],
    ["POST", "/capability-tokens", { capabilities: "x" }],
    ["POST", "/approvals/a-1/approve", { reason: 42 }],
    ["GET", "/interactions?limit=0", undefined],
  ] as const)("%s %s with an invalid request from another org → 403 ORG_FORBIDDEN", async (method, suffix, body) => {
    const res = await asOther(method, `/api/v1/orgs/${g.orgId}${suffix}`, body);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("ORG_FORBIDDEN");
    const dev = await asOther(method, `/api/v1/orgs/${g.orgId}${suffix}`, body, developer);
    expect(dev.status).toBe(403);
    expect(dev.body.code).toBe("OPERATOR_ROLE_REQUIRED");
    const own = await asOther(method, `/api/v1/orgs/${g.orgId}${suffix}`, body, g.operatorToken);
    expect(own.status).toBe(400);
  });
});
