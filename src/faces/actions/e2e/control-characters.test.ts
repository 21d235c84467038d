// Control characters (NUL first) in the ids a request names, over HTTP, on both store backends. PostgreSQL cannot
// store or compare text holding NUL: `GET /approvals/x%00y`, an execute naming `agent_id: "bot\u0000"` and fifteen
// other operations were 500s there (a failed query) while SQLite answered 404 or DENY. Every such request is now a
// 400 VALIDATION_FAILED problem naming the field, on both backends, and nothing is written; a manifest whose
// agent.id holds one is refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { loadSpec } from "../../../http/spec";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import {
  agent,
  escalatingPaymentManifest,
  executeBody,
  operator,
  type Reply,
  registerManifest,
} from "../../../test-support/http";

const BOT = "control-bot";
const manifest = (agentId = BOT) => ({
  uapk_id: BOT,
  agent: { id: agentId, name: BOT },
  capabilities: ["email:send"],
  tools: { "email:send": { connector: { type: "echo" } } },
});
const send = (extra: Record<string, unknown> = {}, action: Record<string, unknown> = {}) => ({
  ...executeBody(BOT, { type: "email", tool: "send", params: { to: "ann@acme.example" }, ...action }),
  ...extra,
});

const backends = await gatehouseBackends("control characters in ids");

describe.each(backends)("control characters in ids ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
    expect((await registerManifest(g, manifest())).status).toBeLessThan(300);
  });
  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
  });

  const expectRefused = (reply: Reply, pointer: string) => {
    expect(reply.status, reply.text).toBe(400);
    expect(reply.headers.get("content-type")).toContain("application/problem+json");
    expect(reply.body).toMatchObject({ code: "VALIDATION_FAILED" });
    expect(reply.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer);
  };

  it("every path id holding NUL or a newline is a 400 problem, never a 5xx", async () => {
    const withIds = loadSpec().operations.filter((op) => /\{(?!org_id\})/u.test(op.path));
    expect(withIds.length).toBeGreaterThanOrEqual(15);
    for (const bad of ["x%00y", "x%0Ay"])
      for (const op of withIds) {
        const path = op.path.replace(/\{[^}]+\}/gu, (name) => (name === "{org_id}" ? g.orgId : bad));
        const response = await fetch(`${g.url}${path}`, {
          method: op.method.toUpperCase(),
          headers: {
            "x-api-key": g.apiKey,
            authorization: `Bearer ${g.operatorToken}`,
            ...(op.method === "post" ? { "content-type": "application/json" } : {}),
          },
          ...(op.method === "post" ? { body: "{}" } : {}),
        });
        expect(response.status, `${op.method} ${path}`).toBe(400);
        await response.body?.cancel();
      }
  });

  it("a query value holding NUL is a 400 problem", async () => {
    for (const path of ["/approvals?agent_id=a%00", "/interactions?agent_id=a%00", "/interactions?uapk_id=a%00"])
      expectRefused(await operator(g).get(path), `/query/${path.split("?")[1]!.split("=")[0]}`);
  });

  it("execute and evaluate naming an id with NUL are 400 problems; nothing is executed or recorded", async () => {
    const before = (await operator(g).get("/interactions")).body.items.length;
    const cases: [Record<string, unknown>, string][] = [
      [send({ uapk_id: `${BOT}\u0000` }), "/body/uapk_id"],
      [send({ agent_id: `${BOT}\u0000` }), "/body/agent_id"],
      [send({ approval_id: "appr\u0000" }), "/body/approval_id"],
      [send({ idempotency_key: "k\u0000" }), "/body/idempotency_key"],
      [send({}, { type: "email\u0000" }), "/body/action/type"],
      [send({}, { tool: "send\n" }), "/body/action/tool"],
    ];
    for (const [body, pointer] of cases)
      for (const path of ["/api/v1/gateway/execute", "/api/v1/gateway/evaluate"])
        expectRefused(await agent(g).post(path, body), pointer);
    expect((await operator(g).get("/interactions")).body.items.length).toBe(before);
    // The same action without the NUL still runs.
    expect((await agent(g).post("/api/v1/gateway/execute", send())).body).toMatchObject({ executed: true });
  });

  // Default-ignorable and format characters the rule missed: `customer\u034F-support-bot` reached the audit.
  const INVISIBLE = ["\u034f", "\u3164", "\u115f", "\uffa0", "\ufe0f", "\u{1d173}", "\u{e0100}"];
  it("ids holding a character that hides or fakes text (C1, line separator, bidi, zero-width) are 400 problems", async () => {
    const before = (await operator(g).get("/interactions")).body.items.length;
    for (const c of ["\u009b", "\u0085", "\u2028", "\u202e", "\u2066", "\u200b", "\ufeff", ...INVISIBLE]) {
      const cases: [Record<string, unknown>, string][] = [
        [send({ agent_id: `customer${c}-support-bot` }), "/body/agent_id"],
        [send({ uapk_id: `${BOT}${c}` }), "/body/uapk_id"],
        [send({ idempotency_key: `k${c}` }), "/body/idempotency_key"],
        [send({}, { tool: `send${c}` }), "/body/action/tool"],
      ];
      for (const [body, pointer] of cases) {
        const reply = await agent(g).post("/api/v1/gateway/execute", body);
        expectRefused(reply, pointer);
        expect(reply.body.errors[0].message).toMatch(/^must not hold control, line-separator, bidi or invisible/);
      }
      expectRefused(await operator(g).get(`/approvals/x${encodeURIComponent(c)}y`), "/path/approval_id");
      expectRefused(await operator(g).get(`/interactions?agent_id=a${encodeURIComponent(c)}`), "/query/agent_id");
    }
    expect((await operator(g).get("/interactions")).body.items.length).toBe(before);
  });

  it("a batch whose action_id holds NUL or a newline is a 400 problem naming it; nothing is executed", async () => {
    const before = (await operator(g).get("/interactions")).body.items.length;
    const batch = (actionId: string) => ({
      uapk_id: BOT,
      agent_id: BOT,
      actions: [{ action_id: actionId, type: "email", tool: "send", params: { to: "ann@acme.example" } }],
    });
    for (const bad of ["a\u0000", "a\nb"])
      expectRefused(await agent(g).post("/api/v1/gateway/batch", batch(bad)), "/body/actions/0/action_id");
    expect((await operator(g).get("/interactions")).body.items.length).toBe(before);
    expect((await agent(g).post("/api/v1/gateway/batch", batch("a"))).status).toBe(200);
  });

  it("a token for an agent id with NUL, and a manifest whose agent.id holds one, are refused", async () => {
    expectRefused(
      await operator(g).post("/capability-tokens", {
        agent_id: `${BOT}\u0000`,
        uapk_id: BOT,
        capabilities: ["email:send"],
      }),
      "/body/agent_id",
    );
    for (const agentId of [`${BOT}\u0000`, `${BOT}\u200b`, ` ${BOT}`]) {
      const reply = await operator(g).post("/manifests", { ...manifest(agentId), uapk_id: "control-bot-2" });
      expect(reply.status, reply.text).toBe(400);
      expect(JSON.stringify(reply.body.errors)).toContain("/agent/id");
    }
  });

  it("an operator's reason, a webhook's url, secret or description holding NUL is a 400 problem; a newline is kept", async () => {
    const payer = "control-payer";
    await registerManifest(g, escalatingPaymentManifest(payer));
    const escalate = async () => {
      const reply = await agent(g).post(
        "/api/v1/gateway/execute",
        executeBody(payer, { type: "payment", tool: "send" }),
      );
      expect(reply.body.decision, reply.text).toBe("ESCALATE");
      return reply.body.approval_id as string;
    };
    const approvalId = await escalate();
    const nul = await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "ok\u0000" });
    expect(nul.body.errors).toEqual([{ pointer: "/body/reason", message: "must not hold NUL (U+0000)" }]);
    for (const verb of ["approve", "deny"])
      expectRefused(await operator(g).post(`/approvals/${approvalId}/${verb}`, { reason: "ok\u0000" }), "/body/reason");
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("pending");
    const denied = await operator(g).post(`/approvals/${approvalId}/deny`, { reason: "line one\nline two" });
    expect(denied.status, denied.text).toBe(200);
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.reason).toBe("line one\nline two");

    const token = await operator(g).post("/capability-tokens", {
      agent_id: payer,
      uapk_id: payer,
      capabilities: ["payment:send"],
    });
    expect(token.status, token.text).toBe(201);
    const revoke = `/capability-tokens/${token.body.token_id}/revoke`;
    expectRefused(await operator(g).post(revoke, { reason: "gone\u0000" }), "/body/reason");
    expect((await operator(g).post(revoke, { reason: "gone" })).status).toBe(200);

    const hook = { url: "https://hooks.acme.example/gatehouse" };
    const secret = "s".repeat(40);
    const webhooks: [Record<string, unknown>, string][] = [
      [{ url: `${hook.url}\u0000` }, "/body/url"],
      [{ url: `${hook.url}\n` }, "/body/url"],
      [{ ...hook, secret: `${secret}\u0000` }, "/body/secret"],
      [{ ...hook, description: "on call\u0000" }, "/body/description"],
    ];
    for (const [body, pointer] of webhooks) expectRefused(await operator(g).post("/webhooks", body), pointer);
    expect((await operator(g).post("/webhooks", { url: `${hook.url}\n` })).body.errors[0].message).toMatch(
      /^must not hold control, line-separator, bidi or invisible characters \(U\+0000–U\+001F, U\+007F–U\+009F/,
    );
    expect(
      (await operator(g).get("/webhooks")).body.items.filter((w: { source: string }) => w.source === "api"),
    ).toEqual([]);
  });
});
