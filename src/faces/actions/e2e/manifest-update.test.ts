// PUT /orgs/{org_id}/manifests/{manifest_id} over HTTP, on both store backends: a new body is the next version
// (author, change `updated`), the same body is none, and the next decision applies it; a revoked manifest and another
// uapk_id are refused (409), another org's id is not found (404), a body naming another manifest is a 400. Two PUTs
// at once each answer the version they wrote (no gap, no lost write), and a PUT racing a revocation never writes a
// body after it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { sha256Canonical } from "../../../core/audit/canonical";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import { agent, executeBody, operator, operatorRequest, type Reply } from "../../../test-support/http";
import { expectMatchesSpec } from "../../../test-support/spec-check";

const bot = (uapkId: string, extra: Record<string, unknown> = {}) => ({
  uapk_id: uapkId,
  agent: { id: uapkId, name: "Updated" },
  capabilities: ["crm:read", "email:send"],
  tools: { "crm:read": { connector: { type: "echo" } }, "email:send": { connector: { type: "echo" } } },
  ...extra,
});
/** The same agent with `email:send` taken away. */
const readOnly = (uapkId: string) => ({
  ...bot(uapkId),
  capabilities: ["crm:read"],
  tools: { "crm:read": { connector: { type: "echo" } } },
});
const sendEmail = (uapkId: string) =>
  executeBody(uapkId, { type: "email", tool: "send", params: { to: "a@example.com", subject: "hi" } });

type Problem = { code: string; detail: string; [field: string]: unknown };

const backends = await gatehouseBackends("manifest update over HTTP");

describe.each(backends)("PUT a manifest ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  const put = (id: string, body: unknown): Promise<Reply> =>
    operatorRequest(g, "PUT", `/api/v1/orgs/${g.orgId}/manifests/${id}`, body);
  const versions = async (id: string) =>
    (await operator(g).get(`/manifests/${id}/versions`)).body.items as {
      version: number;
      change: string;
      status: string;
      author: string;
    }[];
  async function registered(uapkId: string): Promise<string> {
    const reply = await operator(g).post("/manifests", bot(uapkId, { manifest_id: `m-${uapkId}` }));
    expect(reply.status, reply.text).toBe(201);
    return reply.body.manifest_id;
  }

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
  });
  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
  });

  it("a new body is the next version (change updated, the operator as author), as GET answers it", async () => {
    const id = await registered("upd-basic");
    const next = bot("upd-basic", { constraints: { max_actions_per_hour: 5 } });
    const reply = await put(id, next);
    expect(reply.status, reply.text).toBe(200);
    expectMatchesSpec("Manifests_update", 200, reply.body);
    expect(reply.body).toMatchObject({
      manifest_id: id,
      status: "active",
      version: 2,
      content_hash: sha256Canonical(next),
    });
    expect((await operator(g).get(`/manifests/${id}`)).body).toEqual(reply.body);
    const [, v2] = await versions(id);
    expect(v2).toMatchObject({ version: 2, change: "updated", status: "active", author: "operator@contract" });
    expect((await operator(g).get(`/manifests/${id}/versions/2`)).body.content).toEqual(next);

    // The same body again (its manifest_id may be repeated): 200, no new version.
    const again = await put(id, { ...next, manifest_id: id });
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(2);
    expect(await versions(id)).toHaveLength(2);
  });

  it("the next decision applies the new body: an ALLOW becomes a DENY once the capability is taken away", async () => {
    const id = await registered("upd-decide");
    expect((await agent(g).post("/api/v1/gateway/evaluate", sendEmail("upd-decide"))).body.decision).toBe("ALLOW");
    expect((await put(id, readOnly("upd-decide"))).status).toBe(200);
    const after = await agent(g).post("/api/v1/gateway/evaluate", sendEmail("upd-decide"));
    expect(after.body.decision).toBe("DENY");
    const check = after.body.policy_trace.checks.find((c: { check: string }) => c.check === "manifest_validation");
    expect(check.details).toMatchObject({ manifest_id: id, manifest_version: 2 });
  });

  it("an approval given under the old body releases nothing the new body denies", async () => {
    const withDelete = {
      ...bot("upd-approval"),
      capabilities: ["crm:read", "crm:delete"],
      constraints: { require_human_approval: ["crm:delete"] },
      tools: { "crm:read": { connector: { type: "echo" } }, "crm:delete": { connector: { type: "echo" } } },
    };
    const registeredReply = await operator(g).post("/manifests", { ...withDelete, manifest_id: "m-upd-approval" });
    expect(registeredReply.status).toBe(201);
    const action = { type: "crm", tool: "delete", params: { record_id: "r-1" } };
    const asked = await agent(g).post("/api/v1/gateway/execute", executeBody("upd-approval", action));
    expect(asked.body.decision).toBe("ESCALATE");
    expect((await operator(g).post(`/approvals/${asked.body.approval_id}/approve`, { reason: "ok" })).status).toBe(200);
    expect((await put("m-upd-approval", readOnly("upd-approval"))).status).toBe(200);
    const resubmit = executeBody("upd-approval", action, { approval_id: asked.body.approval_id });
    const after = await agent(g).post("/api/v1/gateway/execute", resubmit);
    expect(after.body.decision).toBe("DENY");
    expect(after.body.executed).not.toBe(true);
  });

  it("a suspended manifest is updated and stays suspended", async () => {
    const id = await registered("upd-suspended");
    expect((await operator(g).post(`/manifests/${id}/suspend`)).status).toBe(200);
    const reply = await put(id, readOnly("upd-suspended"));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: "suspended", version: 3 });
  });

  it("refused without writing: revoked (409), another uapk_id (409), another manifest_id (400), invalid (400)", async () => {
    const id = await registered("upd-refused");
    const other = await registered("upd-other");
    const cases: [unknown, number, string][] = [
      [bot("upd-other"), 409, "MANIFEST_CONFLICT"], // another manifest's uapk_id
      [bot("upd-renamed"), 409, "MANIFEST_CONFLICT"], // a uapk_id nobody has: still never changes
      [{ ...bot("upd-refused"), manifest_id: other }, 400, "VALIDATION_FAILED"],
      [{ ...bot("upd-refused"), capabilities: ["crm:delete"] }, 400, "INVALID_MANIFEST"],
    ];
    for (const [body, status, code] of cases) {
      const reply = await put(id, body);
      expect(reply.status, reply.text).toBe(status);
      expect(reply.body.code).toBe(code);
      expect(reply.headers.get("content-type")).toContain("application/problem+json");
      expectMatchesSpec("Manifests_update", status, reply.body);
    }
    expect(await versions(id)).toHaveLength(1);
    expect(await versions(other)).toHaveLength(1);

    expect((await operator(g).post(`/manifests/${id}/revoke`)).status).toBe(200);
    const revoked = await put(id, readOnly("upd-refused"));
    expect(revoked.status).toBe(409);
    expect(revoked.body).toMatchObject({ code: "MANIFEST_CONFLICT" });
    expect((await versions(id)).map((v) => v.change)).toEqual(["registered", "revoked"]);
  });

  it("another agent.id is 409: the hourly budget spent by the agent is not reset under a new identity", async () => {
    const uapkId = "upd-agent";
    const id = await registered(uapkId);
    const limited = (agentId: string, name = "Updated") => ({
      ...bot(uapkId),
      agent: { id: agentId, name },
      constraints: { max_actions_per_hour: 2 },
    });
    expect((await put(id, limited(uapkId))).status).toBe(200);
    const send = (agentId: string) =>
      agent(g).post("/api/v1/gateway/execute", { ...sendEmail(uapkId), agent_id: agentId });
    for (let i = 0; i < 2; i++) expect((await send(uapkId)).body.decision).toBe("ALLOW");
    expect((await send(uapkId)).body.decision).toBe("DENY"); // this hour's budget is spent

    // Renamed, differently cased, a look-alike (Cyrillic 'а'): each another agent id. (A padded one is refused
    // before: an agent.id may not start or end with a space.)
    expect((await put(id, limited(` ${uapkId}`))).status).toBe(400);
    for (const renamed of ["fresh-agent", "UPD-AGENT", "upd-аgent"]) {
      const reply = await put(id, limited(renamed));
      expect(reply.status, reply.text).toBe(409);
      expect(reply.body.code).toBe("MANIFEST_CONFLICT");
      expect(reply.body.detail).toContain("agent.id");
      expectMatchesSpec("Manifests_update", 409, reply.body);
      expect((await send(renamed)).body.decision).toBe("DENY");
    }
    expect(await versions(id)).toHaveLength(2);
    expect((await send(uapkId)).body.decision).toBe("DENY");
    // The agent's name is not its identity: it may change.
    expect((await put(id, limited(uapkId, "Renamed bot"))).status).toBe(200);
  });

  it("another org's manifest id answers 404 exactly like an unused one, and changes nothing", async () => {
    const id = await registered("upd-cross");
    const tokenB = await g.userTokenFor("org-b-upd", "bob@org-b", ["operator"]);
    const asB = async (manifestId: string) => {
      const res = await fetch(`${g.url}/api/v1/orgs/org-b-upd/manifests/${manifestId}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${tokenB}`, "content-type": "application/json" },
        body: JSON.stringify(readOnly("upd-cross")),
      });
      return { status: res.status, body: (await res.json()) as Problem };
    };
    const taken = await asB(id);
    const unused = await asB("never-used");
    expect(taken.status).toBe(404);
    expect(taken.body.code).toBe("MANIFEST_NOT_FOUND");
    const strip = (p: Problem) => ({
      ...p,
      detail: p.detail.replace(id, "ID").replace("never-used", "ID"),
      instance: 0,
      request_id: 0,
    });
    expect(strip(taken.body)).toEqual(strip(unused.body));
    expect(await versions(id)).toHaveLength(1);
  });

  it("12 PUTs of different bodies at once: versions 2–13 without a gap, each 200 the version it wrote", async () => {
    const id = await registered("upd-race");
    const bodies = Array.from({ length: 12 }, (_, i) =>
      bot("upd-race", { constraints: { max_actions_per_hour: 10 + i } }),
    );
    const replies = await Promise.all(bodies.map((body) => put(id, body)));
    expect(replies.map((r) => r.status)).toEqual(bodies.map(() => 200));
    const listed = await versions(id);
    expect(listed.map((v) => v.version)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    for (const [i, reply] of replies.entries()) {
      // The version each answer names holds that request's body.
      const written = await operator(g).get(`/manifests/${id}/versions/${reply.body.version}`);
      expect(written.body.content).toEqual(bodies[i]);
      expect(reply.body.content_hash).toBe(sha256Canonical(bodies[i]));
    }
    const final = (await operator(g).get(`/manifests/${id}`)).body;
    expect(final.version).toBe(13);
    expect(bodies.map((b) => sha256Canonical(b))).toContain(final.content_hash);
  });

  it("PUTs racing revocations: no body is ever written after the manifest was revoked", async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => registered(`upd-vs-revoke-${i}`)));
    const [puts] = await Promise.all([
      Promise.all(ids.map((id, i) => put(id, readOnly(`upd-vs-revoke-${i}`)))),
      Promise.all(ids.map((id) => operator(g).post(`/manifests/${id}/revoke`))),
    ]);
    for (const [i, id] of ids.entries()) {
      const changes = (await versions(id)).map((v) => v.change);
      expect(changes.at(-1)).toBe("revoked");
      expect([200, 409]).toContain(puts[i]!.status);
      // 200: its version came before the revocation; 409: nothing was written.
      expect(changes).toEqual(
        puts[i]!.status === 200 ? ["registered", "updated", "revoked"] : ["registered", "revoked"],
      );
    }
  });
});
