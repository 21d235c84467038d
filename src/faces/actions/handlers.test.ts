import { describe, expect, it } from "vitest";
import { openMigratedDatabase } from "../../core/store/test-support";
import type { Principal } from "../../core/identity/principal";
import { HttpProblem } from "../../http/problem";
import { supportBot } from "../../core/policy/test-fixtures";
import { actionsHandlers } from "./handlers";
import { createGovernanceEngine } from "../../core/governance";

const ORG = "550e8400-e29b-41d4-a716-446655440000";
const operator: Principal = { kind: "user", sub: "ops@acme.com", orgId: ORG, roles: ["operator"] };
const agent: Principal = { kind: "api_key", keyId: "k1", orgId: ORG };
const stranger: Principal = { kind: "user", sub: "eve", orgId: "other-org", roles: ["operator"] };

async function setup() {
  const actions = createGovernanceEngine({ db: await openMigratedDatabase(":memory:") });
  // Handlers are called directly with hand-built requests; each test casts the reply it expects.
  const h = actionsHandlers({ actions }) as unknown as Record<
    keyof ReturnType<typeof actionsHandlers>,
    (req: never) => unknown
  >;
  const call = <T>(fn: (req: never) => unknown, req: Record<string, unknown>) =>
    fn({
      params: {},
      query: {},
      headers: {},
      requestId: "req-1",
      signal: new AbortController().signal,
      ...req,
    } as never) as Promise<T>;
  return { actions, h, call };
}

describe("actions handlers", () => {
  it("register → issue token → execute with it: the seed flow over the handler seam", async () => {
    const { h, call } = await setup();
    const registered = await call<{ status: number; body: { manifest_id: string; status: string } }>(
      h.Manifests_register,
      {
        principal: operator,
        params: { org_id: ORG },
        body: supportBot(),
      },
    );
    expect(registered).toMatchObject({ status: 201, body: { status: "active" } });

    const issued = await call<{ status: number; body: { token: string; capabilities: string[] } }>(
      h.CapabilityTokens_issue,
      {
        principal: operator,
        params: { org_id: ORG },
        body: {
          agent_id: "customer-support-bot",
          manifest_id: registered.body.manifest_id,
          capabilities: ["email:send", "crm:read"],
          expires_in_hours: 24,
        },
      },
    );
    expect(issued.status).toBe(201);

    const executed = await call<{ body: { decision: string; executed: boolean } }>(h.Gateway_execute, {
      principal: agent,
      body: {
        uapk_id: "customer-support-bot",
        agent_id: "customer-support-bot",
        capability_token: issued.body.token,
        action: { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hello" } },
      },
    });
    expect(executed.body).toMatchObject({ decision: "ALLOW", executed: true });

    const outside = await call<{ body: { decision: string; reasons: { code: string }[] } }>(h.Gateway_execute, {
      principal: agent,
      body: {
        uapk_id: "customer-support-bot",
        agent_id: "customer-support-bot",
        capability_token: issued.body.token,
        action: { type: "crm", tool: "update", params: {} },
      },
    });
    expect(outside.body.reasons.map((r) => r.code)).toEqual(["CAPABILITY_MISSING"]);
  });

  it("an invalid manifest is a 400 listing every problem; another org is a 403", async () => {
    const { h, call } = await setup();
    const err = (await call(h.Manifests_register, {
      principal: operator,
      params: { org_id: ORG },
      body: { ...supportBot(), capabilities: ["email-send"], tools: {} },
    }).catch((e: HttpProblem) => e)) as HttpProblem;
    expect(err).toBeInstanceOf(HttpProblem);
    expect(err.status).toBe(400);
    expect(err.extras.errors?.length).toBeGreaterThanOrEqual(2);
    const forbidden = (await call(h.Manifests_list, { principal: stranger, params: { org_id: ORG } }).catch(
      (e: HttpProblem) => e,
    )) as HttpProblem;
    expect(forbidden.status).toBe(403);
  });

  it("an idempotency key without a configured store is refused (503), never silently ignored", async () => {
    const { h, call, actions } = await setup();
    actions.manifests.register(ORG, supportBot());
    const err = (await call(h.Gateway_execute, {
      principal: agent,
      body: {
        uapk_id: "customer-support-bot",
        agent_id: "customer-support-bot",
        idempotency_key: "k",
        action: { type: "email", tool: "send", params: {} },
      },
    }).catch((e: HttpProblem) => e)) as HttpProblem;
    expect(err.status).toBe(503);
  });

  it("revokes a token and reports gateway health", async () => {
    const { h, call, actions } = await setup();
    const m = actions.manifests.register(ORG, supportBot());
    const t = await actions.tokens.issue({
      orgId: ORG,
      issuerId: "x",
      issuedBy: "ops@acme.com",
      agentId: "customer-support-bot",
      manifest: m,
      capabilities: ["email:send"],
    });
    const revoked = await call<{ body: object }>(h.CapabilityTokens_revoke, {
      principal: operator,
      params: { org_id: ORG, token_id: t.token_id },
      body: { reason: "Suspected token compromise" },
    });
    expect(revoked.body).toMatchObject({ token_id: t.token_id, revoked: true, reason: "Suspected token compromise" });
    const missing = (await call(h.CapabilityTokens_revoke, {
      principal: operator,
      params: { org_id: ORG, token_id: "tok-nope" },
    }).catch((e: HttpProblem) => e)) as HttpProblem;
    expect(missing.status).toBe(404);
    const health = await call<{ body: object }>(h.Gateway_health, { principal: { kind: "anonymous" } });
    expect(health.body).toMatchObject({ status: "healthy", database: "connected" });
  });
});
