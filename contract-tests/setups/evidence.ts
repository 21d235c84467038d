// State the manifest-version, shadow-replay, chain-head and evidence examples need, created through the API only.
// The manifest is the register example's body under the documented id, so its content (and content hash) is
// exactly what the examples print.
import type { ExampleCase } from "../examples";
import { collectCases } from "../examples";
import type { Setup, TestGatehouse } from "./types";

const MANIFEST_ID = "880e8400-e29b-41d4-a716-446655440003";

type Body = Record<string, unknown>;

async function mustCall(g: TestGatehouse, method: string, path: string, auth: Record<string, string>, body: unknown) {
  const res = await fetch(g.url + path, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json()) as Body;
  if (res.status >= 300) throw new Error(`setup: ${method} ${path} answered ${res.status}: ${JSON.stringify(answer)}`);
  return answer;
}

const asOperator = (g: TestGatehouse) => ({ Authorization: `Bearer ${g.operatorToken}` });
const asAgent = (g: TestGatehouse) => ({ "X-API-Key": g.apiKey });

function documented(name: string, operationId: string): ExampleCase {
  const found = collectCases().find((c) => c.name === name && c.operationId === operationId);
  if (!found) throw new Error(`setup: no documented example ${operationId} ${name}`);
  return found;
}

async function registerDocumented(g: TestGatehouse): Promise<void> {
  const body = documented("gatehouse_register_manifest", "Manifests_register").body as Body;
  await mustCall(g, "POST", `/api/v1/orgs/${g.orgId}/manifests`, asOperator(g), { ...body, manifest_id: MANIFEST_ID });
}

async function execute(g: TestGatehouse, action: Body): Promise<Body> {
  const body = { uapk_id: "customer-support-bot", agent_id: "customer-support-bot", action };
  return mustCall(g, "POST", "/api/v1/gateway/execute", asAgent(g), body);
}

const registered: Setup = async (g) => {
  await registerDocumented(g);
};

export const evidenceSetups: Record<string, Setup> = {
  gatehouse_manifest_version: registered,
  gatehouse_manifest_version_not_found: registered,
  gatehouse_replay_other_agent: registered,

  // Registered, then suspended: versions 1 and 2.
  gatehouse_manifest_versions: async (g) => {
    await registerDocumented(g);
    await mustCall(g, "POST", `/api/v1/orgs/${g.orgId}/manifests/${MANIFEST_ID}/suspend`, asOperator(g), undefined);
  },

  // One recorded ALLOW that stays ALLOW (crm:read), one the candidate escalates (crm:update), one ESCALATE.
  gatehouse_replay_tightening: async (g) => {
    await registerDocumented(g);
    await execute(g, { type: "crm", tool: "read", params: { customer_id: "C-1" } });
    await execute(g, { type: "crm", tool: "update", params: { customer_id: "C-1", tier: "gold" } });
    await execute(g, { type: "crm", tool: "delete", params: { customer_id: "C-1" } });
  },

  // One executed action: intent (seq 1) and outcome (seq 2).
  gatehouse_chain_head: async (g) => {
    await registerDocumented(g);
    await execute(g, { type: "crm", tool: "read", params: { customer_id: "C-1" } });
  },

  gatehouse_evidence: async (g, example) => {
    await registerDocumented(g);
    const documentedBundle = example.response?.body as { action: Body } | undefined;
    if (!documentedBundle) throw new Error("setup: gatehouse_evidence documents no response");
    const answer = await execute(g, documentedBundle.action);
    return { request: { params: { interaction_id: answer.interaction_id as string } } };
  },
};
