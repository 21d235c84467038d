// Operator approvals and the agent's read, over HTTP against the spec-driven app.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { components } from "../../../generated/api-types";
import type { Approval as StoredApproval } from "../../core/approvals";
import { expectMatchesSpec } from "./spec-check";
import { AGENT_API_KEY, DEFAULT_ORG, OTHER_ORG, startOversightServer, type OversightTestServer } from "./test-server";

type Approval = components["schemas"]["Approval"];
type AgentApproval = components["schemas"]["AgentApproval"];
type ApprovalList = components["schemas"]["ApprovalList"];
type Problem = components["schemas"]["Problem"];

let gh: OversightTestServer;
let operator: string;
let otherOperator: string;

beforeAll(async () => {
  gh = await startOversightServer();
  operator = await gh.operatorToken(DEFAULT_ORG, "alice@acme.example");
  otherOperator = await gh.operatorToken(OTHER_ORG, "mallory@other.example");
});
afterAll(() => gh?.close());

async function call<T>(method: string, path: string, auth: { token?: string; apiKey?: string }, body?: unknown) {
  const headers: Record<string, string> = {};
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  if (auth.apiKey) headers["x-api-key"] = auth.apiKey;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${gh.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: (await res.json()) as T };
}

const orgPath = (org: string, rest = "") => `/api/v1/orgs/${org}/approvals${rest}`;

let seq = 0;
/** A pending approval as the actions face would create it for an ESCALATE. */
function escalate(
  org = DEFAULT_ORG,
  overrides: Partial<Parameters<typeof gh.approvals.create>[0]> = {},
): StoredApproval {
  seq += 1;
  return gh.approvals.create({
    org_id: org,
    uapk_id: "customer-support-bot",
    agent_id: "customer-support-bot",
    action: { type: "crm", tool: "delete", params: { record_id: `rec-${seq}` } },
    reasons: [{ code: "REQUIRES_APPROVAL", message: "Action 'crm:delete' requires human approval" }],
    ...overrides,
  });
}

describe("operator approvals", () => {
  it("lists the org's approvals (newest first), never another org's, and filters by status", async () => {
    const first = escalate();
    const second = escalate();
    const foreign = escalate(OTHER_ORG);

    const all = await call<ApprovalList>("GET", orgPath(DEFAULT_ORG), { token: operator });
    expect(all.status).toBe(200);
    expectMatchesSpec("Approvals_list", 200, all.body);
    const ids = all.body.items.map((a) => a.approval_id);
    expect(ids).toContain(first.approval_id);
    expect(ids).toContain(second.approval_id);
    expect(ids).not.toContain(foreign.approval_id);

    gh.approvals.approve(DEFAULT_ORG, first.approval_id, { by: "seed" });
    const pending = await call<ApprovalList>("GET", `${orgPath(DEFAULT_ORG)}?status=pending`, { token: operator });
    const approved = await call<ApprovalList>("GET", `${orgPath(DEFAULT_ORG)}?status=approved`, { token: operator });
    expect(pending.body.items.every((a) => a.status === "pending")).toBe(true);
    expect(pending.body.items.map((a) => a.approval_id)).toContain(second.approval_id);
    expect(approved.body.items.map((a) => a.approval_id)).toEqual([first.approval_id]);
  });

  it("answers with Cache-Control: no-store, so no browser or proxy keeps an operator's or agent's approval", async () => {
    const approval = escalate();
    for (const path of [orgPath(DEFAULT_ORG), orgPath(DEFAULT_ORG, `/${approval.approval_id}`)]) {
      const res = await fetch(`${gh.url}${path}`, { headers: { authorization: `Bearer ${operator}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
    // The agent's read of its approval carries the same params.
    const res = await fetch(`${gh.url}/api/v1/gateway/approvals/${approval.approval_id}`, {
      headers: { "x-api-key": AGENT_API_KEY },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("rejects a status that is not one of the spec's", async () => {
    const res = await call<Problem>("GET", `${orgPath(DEFAULT_ORG)}?status=maybe`, { token: operator });
    expect(res.status).toBe(400);
  });

  it("shows the escalated action exactly as submitted, amount, currency and counterparty included", async () => {
    const payment = escalate(DEFAULT_ORG, {
      action: { type: "payment", tool: "transfer", params: { iban: "DE89370400440532013000" } },
      counterparty: "acme-supplies",
      context: { amount: 5000, currency: "EUR", jurisdiction: "DE" },
      reasons: [{ code: "AMOUNT_THRESHOLD", message: "Amount 5000 EUR exceeds auto-approve threshold 1000 EUR" }],
    });
    const res = await call<Approval>("GET", orgPath(DEFAULT_ORG, `/${payment.approval_id}`), { token: operator });
    expect(res.status).toBe(200);
    expectMatchesSpec("Approvals_get", 200, res.body);
    expect(res.body).toMatchObject({
      approval_id: payment.approval_id,
      status: "pending",
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      action: {
        type: "payment",
        tool: "transfer",
        params: { iban: "DE89370400440532013000" },
        amount: 5000,
        currency: "EUR",
        counterparty: "acme-supplies",
        jurisdiction: "DE",
      },
      reasons: [{ code: "AMOUNT_THRESHOLD", message: "Amount 5000 EUR exceeds auto-approve threshold 1000 EUR" }],
      created_at: payment.created_at,
      expires_at: payment.expires_at,
    });
    // Not decided yet: no decision fields at all (not nulls).
    expect(res.body).not.toHaveProperty("decided_at");
    expect(res.body).not.toHaveProperty("decided_by");
  });

  it("answers 404 problem for an unknown approval", async () => {
    const res = await call<Problem>("GET", orgPath(DEFAULT_ORG, "/appr-does-not-exist"), { token: operator });
    expect(res.status).toBe(404);
    expect(res.type).toContain("application/problem+json");
    expect(res.body.detail).toBe("Approval appr-does-not-exist not found");
    const approve = await call<Problem>("POST", orgPath(DEFAULT_ORG, "/appr-does-not-exist/approve"), {
      token: operator,
    });
    expect(approve.status).toBe(404);
  });

  it("approve records the operator and note; the agent then reads it approved; a second approve is 409", async () => {
    const pending = escalate();
    const approved = await call<Approval>(
      "POST",
      orgPath(DEFAULT_ORG, `/${pending.approval_id}/approve`),
      { token: operator },
      { reason: "Customer asked for account deletion" },
    );
    expect(approved.status).toBe(200);
    expectMatchesSpec("Approvals_approve", 200, approved.body);
    expect(approved.body).toMatchObject({
      approval_id: pending.approval_id,
      status: "approved",
      decided_by: "alice@acme.example",
      reason: "Customer asked for account deletion",
    });
    expect(Date.parse(approved.body.decided_at!)).not.toBeNaN();

    const agentView = await call<AgentApproval>("GET", `/api/v1/gateway/approvals/${pending.approval_id}`, {
      apiKey: AGENT_API_KEY,
    });
    expect(agentView.status).toBe(200);
    expectMatchesSpec("Gateway_getApproval", 200, agentView.body);
    expect(agentView.body).toMatchObject({ status: "approved", decided_at: approved.body.decided_at });
    expect(agentView.body.action.params).toEqual(pending.action.params);
    // Who decided and their note are the operators': the agent reads the outcome only (as over MCP).
    expect(Object.keys(agentView.body).sort()).toEqual([
      "action",
      "agent_id",
      "approval_id",
      "created_at",
      "decided_at",
      "expires_at",
      "reasons",
      "status",
      "uapk_id",
    ]);
    expect(JSON.stringify(agentView.body)).not.toMatch(/alice|Customer asked/);

    const again = await call<Problem>("POST", orgPath(DEFAULT_ORG, `/${pending.approval_id}/approve`), {
      token: operator,
    });
    expect(again.status).toBe(409);
    expect(again.type).toContain("application/problem+json");
    expect(again.body.detail).toBe(`Approval ${pending.approval_id} is already approved`);
    const denyAfter = await call<Problem>("POST", orgPath(DEFAULT_ORG, `/${pending.approval_id}/deny`), {
      token: operator,
    });
    expect(denyAfter.status).toBe(409);
    expect(gh.approvals.get(DEFAULT_ORG, pending.approval_id)?.status).toBe("approved");
  });

  it("deny works without a body and the agent reads it denied", async () => {
    const pending = escalate();
    const denied = await call<Approval>("POST", orgPath(DEFAULT_ORG, `/${pending.approval_id}/deny`), {
      token: operator,
    });
    expect(denied.status).toBe(200);
    expectMatchesSpec("Approvals_deny", 200, denied.body);
    expect(denied.body).toMatchObject({ status: "denied", decided_by: "alice@acme.example" });
    expect(denied.body).not.toHaveProperty("reason");

    const agentView = await call<AgentApproval>("GET", `/api/v1/gateway/approvals/${pending.approval_id}`, {
      apiKey: AGENT_API_KEY,
    });
    expect(agentView.body.status).toBe("denied");
  });

  it("an expired approval cannot be approved (409 naming the expiry)", async () => {
    const shortLived = escalate(DEFAULT_ORG, { ttl_ms: 1 });
    await new Promise((r) => setTimeout(r, 10));
    const res = await call<Problem>("POST", orgPath(DEFAULT_ORG, `/${shortLived.approval_id}/approve`), {
      token: operator,
    });
    expect(res.status).toBe(409);
    expect(res.body.detail).toBe(`Approval ${shortLived.approval_id} expired at ${shortLived.expires_at}`);
  });

  it("another org's operator gets 403 and changes nothing", async () => {
    const pending = escalate();
    const list = await call<Problem>("GET", orgPath(DEFAULT_ORG), { token: otherOperator });
    const get = await call<Problem>("GET", orgPath(DEFAULT_ORG, `/${pending.approval_id}`), { token: otherOperator });
    const approve = await call<Problem>("POST", orgPath(DEFAULT_ORG, `/${pending.approval_id}/approve`), {
      token: otherOperator,
    });
    const deny = await call<Problem>("POST", orgPath(DEFAULT_ORG, `/${pending.approval_id}/deny`), {
      token: otherOperator,
    });
    for (const res of [list, get, approve, deny]) {
      expect(res.status).toBe(403);
      expect(res.type).toContain("application/problem+json");
      expect(res.body.detail).toBe(`Not allowed to act on organization ${DEFAULT_ORG}`);
    }
    // Even when it guesses the approval id under its own org, it finds nothing.
    const ownOrg = await call<Problem>("POST", orgPath(OTHER_ORG, `/${pending.approval_id}/approve`), {
      token: otherOperator,
    });
    expect(ownOrg.status).toBe(404);
    expect(gh.approvals.get(DEFAULT_ORG, pending.approval_id)?.status).toBe("pending");
  });

  it("a decision body that repeats a member (reason twice) is refused with 400 naming it; nothing is decided", async () => {
    const pending = escalate();
    for (const [verb, body, name] of [
      ["approve", '{"reason":"ok","reason":"shown to nobody"}', "reason"],
      ["deny", '{"reason":"no", "re\\u0061son":"yes"}', "reason"],
    ] as const) {
      const res = await fetch(`${gh.url}${orgPath(DEFAULT_ORG, `/${pending.approval_id}/${verb}`)}`, {
        method: "POST",
        headers: { authorization: `Bearer ${operator}`, "content-type": "application/json" },
        body,
      });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      const problem = (await res.json()) as Problem;
      expectMatchesSpec(verb === "approve" ? "Approvals_approve" : "Approvals_deny", 400, problem);
      expect(problem).toMatchObject({ code: "INVALID_JSON", detail: `Request body repeats the member name "${name}"` });
    }
    expect(gh.approvals.get(DEFAULT_ORG, pending.approval_id)?.status).toBe("pending");
  });

  it("a platform admin may act on any org", async () => {
    const pending = escalate();
    const admin = await gh.operatorToken(OTHER_ORG, "root@platform.example", ["platform_admin"]);
    const res = await call<Approval>("POST", orgPath(DEFAULT_ORG, `/${pending.approval_id}/deny`), { token: admin });
    expect(res.status).toBe(200);
    expect(res.body.decided_by).toBe("root@platform.example");
  });

  it("operator endpoints refuse an agent's API key and anonymous calls (401)", async () => {
    const withKey = await call<Problem>("GET", orgPath(DEFAULT_ORG), { apiKey: AGENT_API_KEY });
    const anonymous = await call<Problem>("GET", orgPath(DEFAULT_ORG), {});
    expect(withKey.status).toBe(401);
    expect(anonymous.status).toBe(401);
  });
});

describe("agent approval read", () => {
  it("another org's agent gets 404, not the approval", async () => {
    const pending = escalate();
    const res = await call<Problem>("GET", `/api/v1/gateway/approvals/${pending.approval_id}`, {
      apiKey: gh.otherOrgApiKey,
    });
    expect(res.status).toBe(404);
    expect(res.body.detail).toBe(`Approval ${pending.approval_id} not found`);
    expect(JSON.stringify(res.body)).not.toContain("crm");
  });

  it("long-poll returns as soon as an operator decides", async () => {
    const pending = escalate();
    const started = Date.now();
    const poll = call<AgentApproval>("GET", `/api/v1/gateway/approvals/${pending.approval_id}?wait=20`, {
      apiKey: AGENT_API_KEY,
    });
    await new Promise((r) => setTimeout(r, 300));
    const decision = await call<Approval>("POST", orgPath(DEFAULT_ORG, `/${pending.approval_id}/approve`), {
      token: operator,
    });
    expect(decision.status).toBe(200);

    const answered = await poll;
    const elapsed = Date.now() - started;
    expect(answered.status).toBe(200);
    expect(answered.body.status).toBe("approved");
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(5_000);
  });

  it("long-poll answers pending after the wait when nobody decides", async () => {
    const pending = escalate();
    const started = Date.now();
    const res = await call<AgentApproval>("GET", `/api/v1/gateway/approvals/${pending.approval_id}?wait=1`, {
      apiKey: AGENT_API_KEY,
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("pending");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("long-poll for an unknown approval answers 404 at once", async () => {
    const started = Date.now();
    const res = await call<Problem>("GET", "/api/v1/gateway/approvals/appr-missing?wait=30", { apiKey: AGENT_API_KEY });
    expect(res.status).toBe(404);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("rejects a wait beyond the spec's 60 seconds", async () => {
    const pending = escalate();
    const res = await call<Problem>("GET", `/api/v1/gateway/approvals/${pending.approval_id}?wait=61`, {
      apiKey: AGENT_API_KEY,
    });
    expect(res.status).toBe(400);
  });
});
