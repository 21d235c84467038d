// State the seed 003 examples need, created the way a user would: through the public API only.
// The seed's agent is `customer-support-bot`, registered from examples/manifests/customer-support-bot.yaml.
// Ids the seed prints (`tok-xyz789`, `appr-xyz789`, manifest `880e…`) only exist once the server issued real
// ones, so those setups hand the issued id back as a request override.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { collectCases, type ExampleCase } from "../examples";
import type { Prepared, Setup, TestGatehouse } from "./types";

const SUPPORT_BOT_FILE = resolve(import.meta.dirname, "../../examples/manifests/customer-support-bot.yaml");

type Body = Record<string, unknown>;

async function call(g: TestGatehouse, method: string, path: string, auth: Record<string, string>, body?: unknown) {
  const res = await fetch(g.url + path, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json()) as Body;
  return { status: res.status, body: answer };
}

/** A call that must succeed with `expected`; a setup that silently failed would make the replay meaningless. */
async function mustCall(
  g: TestGatehouse,
  method: string,
  path: string,
  auth: Record<string, string>,
  body: unknown,
  expected: number,
) {
  const res = await call(g, method, path, auth, body);
  if (res.status !== expected)
    throw new Error(
      `setup: ${method} ${path} answered ${res.status} (expected ${expected}): ${JSON.stringify(res.body)}`,
    );
  return res.body;
}

const asOperator = (g: TestGatehouse, token = g.operatorToken) => ({ Authorization: `Bearer ${token}` });
const asAgent = (g: TestGatehouse) => ({ "X-API-Key": g.apiKey });

/** Registers the seed's customer-support-bot (POST …/manifests) and returns the registered manifest. */
export async function registerSupportBot(g: TestGatehouse): Promise<Body> {
  const manifest = parseYaml(readFileSync(SUPPORT_BOT_FILE, "utf8")) as Body;
  return mustCall(g, "POST", `/api/v1/orgs/${g.orgId}/manifests`, asOperator(g), manifest, 201);
}

async function issueToken(g: TestGatehouse, body: Body): Promise<Body> {
  return mustCall(g, "POST", `/api/v1/orgs/${g.orgId}/capability-tokens`, asOperator(g), body, 201);
}

async function execute(g: TestGatehouse, body: unknown): Promise<Body> {
  return mustCall(g, "POST", "/api/v1/gateway/execute", asAgent(g), body, 200);
}

/** The request body another documented example sends (so two examples stay about the same request). */
function documentedBody(name: string, operationId: string): Body {
  const found = collectCases().find((c) => c.name === name && c.operationId === operationId);
  if (!found?.body) throw new Error(`setup: no documented request body for ${operationId} ${name}`);
  return found.body as Body;
}

/**
 * Budgets count clock-hour windows: filling one just before the hour turns would leave the replay in a fresh
 * window. Wait for the next hour when less than `marginMs` of this one is left.
 */
async function awayFromHourBoundary(marginMs = 15_000): Promise<void> {
  const left = 3_600_000 - (Date.now() % 3_600_000);
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 100));
}

const registerOnly: Setup = async (g) => {
  await registerSupportBot(g);
};

export const governedActionSetups: Record<string, Setup> = {
  seed003_execute_allow: registerOnly,
  seed003_evaluate: registerOnly,
  seed003_execute_escalate: registerOnly,
  // Without a manifest the request would stop at manifest_validation; registered, it reaches the token check.
  seed003_execute_with_capability_token: registerOnly,

  // The hourly budget of the manifest (max_actions_per_hour: 100) is spent by 100 real executions.
  seed003_execute_deny: async (g, example) => {
    const manifest = await registerSupportBot(g);
    const limit = (manifest.constraints as { max_actions_per_hour: number }).max_actions_per_hour;
    await awayFromHourBoundary();
    for (let i = 0; i < limit; i++) {
      const answer = await execute(g, example.body);
      if (answer.decision !== "ALLOW") throw new Error(`setup: execution ${i + 1} was ${answer.decision}`);
    }
  },

  // "crm:update not in token": the batch runs under a token that grants email:send and crm:read only (the
  // capabilities of the seed's issue example).
  seed003_batch: async (g) => {
    await registerSupportBot(g);
    const issued = await issueToken(g, {
      agent_id: "customer-support-bot",
      uapk_id: "customer-support-bot",
      capabilities: ["email:send", "crm:read"],
    });
    return { request: { body: { capability_token: issued.token } } } satisfies Prepared;
  },

  // The first request with the key; the replay is the duplicate.
  seed003_idempotent_duplicate: async (g, example) => {
    await registerSupportBot(g);
    const original = await execute(g, example.body);
    return { facts: { original } };
  },

  // The key was first used by the seed's idempotent request; the replay sends another body with it.
  gatehouse_idempotency_conflict: async (g) => {
    await registerSupportBot(g);
    await execute(g, documentedBody("seed003_idempotent_duplicate", "Gateway_execute"));
  },

  seed003_issue_capability_token: async (g) => {
    const manifest = await registerSupportBot(g);
    return { request: { body: { manifest_id: manifest.manifest_id } } };
  },

  seed003_revoke_capability_token: async (g) => {
    const manifest = await registerSupportBot(g);
    const issued = await issueToken(g, {
      agent_id: "customer-support-bot",
      manifest_id: manifest.manifest_id,
      capabilities: ["email:send", "crm:read"],
    });
    return { request: { params: { token_id: issued.token_id as string } } };
  },

  // The seed's ESCALATE (crm:delete), approved by operator@acme.com; the agent then reads the outcome.
  // The operator and their note are the example's `decided_by` and `reason`.
  gatehouse_agent_get_approval: async (g: TestGatehouse, example: ExampleCase) => {
    const documented = example.response!.body as { decided_by: string; reason: string };
    await registerSupportBot(g);
    const escalated = await execute(g, documentedBody("seed003_execute_escalate", "Gateway_execute"));
    if (escalated.decision !== "ESCALATE") throw new Error(`setup: crm:delete was ${escalated.decision}`);
    const approvalId = escalated.approval_id as string;
    const operator = await g.userTokenFor(g.orgId, documented.decided_by, ["operator"]);
    await mustCall(
      g,
      "POST",
      `/api/v1/orgs/${g.orgId}/approvals/${approvalId}/approve`,
      asOperator(g, operator),
      { reason: documented.reason },
      200,
    );
    return { request: { params: { approval_id: approvalId } } };
  },
};
