// State the operator examples need (lists and reads with content, decisions, state changes and their conflicts),
// created through the public API only. The agent is the seed's customer-support-bot (its manifest file keeps the
// documented manifest id); the escalation is the seed's crm:delete; the operator is the one the examples name.
import { createServer } from "node:http";
import WebSocket from "ws";
import { collectCases } from "../examples";
import type { Prepared, Setup, TestGatehouse } from "./types";
import { registerSupportBot } from "./governed-actions";
import { DEFAULT_WEBHOOKS_PER_ORG } from "../../src/core/notifications/config";

type Body = Record<string, unknown>;

/** The operator the decision examples print as `decided_by`. */
export const EXAMPLE_OPERATOR = "operator@acme.com";

async function mustCall(g: TestGatehouse, method: string, path: string, auth: Record<string, string>, body?: unknown) {
  const res = await fetch(g.url + path, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json()) as Body;
  if (res.status >= 300) throw new Error(`setup: ${method} ${path} answered ${res.status}: ${JSON.stringify(answer)}`);
  return answer;
}

const asOperator = (g: TestGatehouse) => ({ Authorization: `Bearer ${g.operatorToken}` });
const asAgent = (g: TestGatehouse) => ({ "X-API-Key": g.apiKey });
const orgPath = (g: TestGatehouse, rest: string) => `/api/v1/orgs/${g.orgId}${rest}`;

function documentedBody(name: string, operationId: string): Body {
  const found = collectCases().find((c) => c.name === name && c.operationId === operationId);
  if (!found?.body) throw new Error(`setup: no documented request body for ${operationId} ${name}`);
  return found.body as Body;
}

/** The seed's crm:delete, escalated for approval; its approval id. */
async function escalate(g: TestGatehouse): Promise<string> {
  const answer = await mustCall(
    g,
    "POST",
    "/api/v1/gateway/execute",
    asAgent(g),
    documentedBody("seed003_execute_escalate", "Gateway_execute"),
  );
  if (answer.decision !== "ESCALATE") throw new Error(`setup: crm:delete was ${answer.decision}`);
  return answer.approval_id as string;
}

/**
 * The seed's crm:delete asked for by the example operator themself, in their own MCP session: its approval id. The
 * call waits for the approval, so the setup hangs up once the approval exists (the approval stays pending).
 */
async function escalateInOwnMcpSession(g: TestGatehouse): Promise<string> {
  const endpoint = `${g.url}/mcp/agents/customer-support-bot`;
  const headers = {
    ...(await asExampleOperator(g)),
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
  };
  const rpc = (body: Body, extra: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(endpoint, {
      method: "POST",
      headers: { ...headers, ...extra },
      body: JSON.stringify(body),
      signal: signal ?? null,
    });
  const init = await rpc({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "setup", version: "0" } },
  });
  const session = { "Mcp-Session-Id": init.headers.get("mcp-session-id") ?? "" };
  await init.text();
  await (await rpc({ jsonrpc: "2.0", method: "notifications/initialized" }, session)).text();
  const {
    type: _type,
    tool: _tool,
    ...args
  } = documentedBody("seed003_execute_escalate", "Gateway_execute").action as Body;
  const leaving = new AbortController();
  const call = rpc(
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "crm_delete", arguments: args } },
    session,
    leaving.signal,
  ).catch(() => undefined);
  try {
    for (let waited = 0; waited < 10_000; waited += 50) {
      const page = await mustCall(g, "GET", orgPath(g, "/approvals?status=pending"), asOperator(g));
      const found = (page.items as { approval_id: string }[])[0];
      if (found) return found.approval_id;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("setup: the MCP call made no approval within 10 s");
  } finally {
    leaving.abort();
    await call;
  }
}

/** The request made as the operator the examples name (their `decided_by`). */
async function asExampleOperator(g: TestGatehouse): Promise<Record<string, string>> {
  return { Authorization: `Bearer ${await g.userTokenFor(g.orgId, EXAMPLE_OPERATOR, ["operator"])}` };
}

const registered: Setup = async (g) => {
  await registerSupportBot(g);
};

/** Registered, then changed by the operator (`suspend`, `revoke`). */
const registeredThen =
  (change: "suspend" | "revoke"): Setup =>
  async (g) => {
    const manifest = await registerSupportBot(g);
    await mustCall(g, "POST", orgPath(g, `/manifests/${manifest.manifest_id}/${change}`), asOperator(g));
  };

const pendingApproval: Setup = async (g) => {
  await registerSupportBot(g);
  const approvalId = await escalate(g);
  return { request: { params: { approval_id: approvalId } } } satisfies Prepared;
};

/** One executed action (the seed's email:send): its intent and outcome records; its interaction id. */
async function executedOnce(g: TestGatehouse): Promise<string> {
  await registerSupportBot(g);
  const answer = await mustCall(
    g,
    "POST",
    "/api/v1/gateway/execute",
    asAgent(g),
    documentedBody("seed003_execute_allow", "Gateway_execute"),
  );
  return answer.interaction_id as string;
}

/**
 * An IDE connected over the WebSocket under the session id and user the example prints (no agent runtime is
 * configured, so the runtime link is down). The server closes the socket when it is disposed.
 */
const ideConnected: Setup = async (g, example) => {
  const shown = (example.response?.body as { items?: { session_id: string; user: string }[] } | undefined)?.items?.[0];
  if (!shown) throw new Error("setup: the sessions example shows no session");
  const developer = await g.userTokenFor(g.orgId, shown.user, ["developer"]);
  const ws = new WebSocket(`${g.url.replace(/^http/, "ws")}/ws/${shown.session_id}`, {
    headers: { authorization: `Bearer ${developer}` },
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
};

/** A receiver on this machine that answers every delivery 200 (closed with the test process: unref'd). */
async function localReceiver(): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.once("end", () => res.writeHead(200).end());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  server.unref();
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/**
 * A webhook to a local receiver (the example's path), then the seed's escalation: its approval.created is delivered
 * (the scenario lets webhooks reach 127.0.0.1). Waits until the log says delivered.
 */
const deliveredOnce: Setup = async (g, example) => {
  const shown = (example.response?.body as { items?: { url: string; event: string }[] } | undefined)?.items?.[0];
  if (!shown) throw new Error("setup: the deliveries example shows no delivery");
  const receiver = await localReceiver();
  await mustCall(g, "POST", orgPath(g, "/webhooks"), asOperator(g), {
    url: receiver + new URL(shown.url).pathname,
    format: "gatehouse",
    events: [shown.event],
  });
  await registerSupportBot(g);
  await escalate(g);
  for (let waited = 0; waited < 10_000; waited += 100) {
    const log = await mustCall(g, "GET", orgPath(g, "/webhooks/deliveries"), asOperator(g));
    if ((log.items as { status: string }[])[0]?.status === "delivered") return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("setup: the approval.created delivery did not arrive within 10 s");
};

export const operatorSetups: Record<string, Setup> = {
  gatehouse_list_deliveries: deliveredOnce,

  gatehouse_list_sessions: ideConnected,

  gatehouse_list_interactions: async (g) => {
    await executedOnce(g);
  },
  gatehouse_get_interaction: async (g) => ({ request: { params: { interaction_id: await executedOnce(g) } } }),
  gatehouse_verify_chain: async (g) => {
    await executedOnce(g);
  },

  gatehouse_list_approvals: pendingApproval,
  gatehouse_get_approval: pendingApproval,
  gatehouse_approve: async (g, example) => {
    const prepared = (await pendingApproval(g, example)) as Prepared;
    return { request: { ...prepared.request, headers: await asExampleOperator(g) } };
  },
  gatehouse_deny: async (g, example) => {
    const prepared = (await pendingApproval(g, example)) as Prepared;
    return { request: { ...prepared.request, headers: await asExampleOperator(g) } };
  },
  // Asked for by the approving operator themself: separation of duties refuses it.
  gatehouse_self_approval: async (g) => {
    await registerSupportBot(g);
    const approvalId = await escalateInOwnMcpSession(g);
    return { request: { params: { approval_id: approvalId }, headers: await asExampleOperator(g) } };
  },
  // Denied already: neither approve nor deny can change it.
  gatehouse_approval_already_decided: async (g) => {
    await registerSupportBot(g);
    const approvalId = await escalate(g);
    await mustCall(g, "POST", orgPath(g, `/approvals/${approvalId}/deny`), asOperator(g), {});
    return { request: { params: { approval_id: approvalId } } };
  },

  gatehouse_list_tokens: async (g) => {
    const manifest = await registerSupportBot(g);
    await mustCall(g, "POST", orgPath(g, "/capability-tokens"), asOperator(g), {
      ...documentedBody("seed003_issue_capability_token", "CapabilityTokens_issue"),
      manifest_id: manifest.manifest_id,
    });
  },

  gatehouse_list_manifests: registered,
  gatehouse_get_manifest: registered,
  gatehouse_suspend_manifest: registered,
  gatehouse_revoke_manifest: registered,
  gatehouse_activate_manifest: registeredThen("suspend"),
  gatehouse_manifest_revoked: registeredThen("revoke"),
  // The documented manifest is registered already: its uapk_id is taken.
  gatehouse_manifest_conflict: registered,
  // Updates of the documented manifest: registered (version 1), or registered then revoked.
  gatehouse_update_manifest: registered,
  gatehouse_update_manifest_uapk_id: registered,
  gatehouse_update_manifest_agent_id: registered,
  gatehouse_update_manifest_id_mismatch: registered,
  gatehouse_update_manifest_revoked: registeredThen("revoke"),

  gatehouse_list_webhooks: async (g) => {
    await mustCall(
      g,
      "POST",
      orgPath(g, "/webhooks"),
      asOperator(g),
      documentedBody("gatehouse_create_webhook", "Webhooks_create"),
    );
  },
  // The org has as many subscriptions as it may (the default limit): one more is refused.
  gatehouse_create_webhook_limit: async (g) => {
    for (let i = 0; i < DEFAULT_WEBHOOKS_PER_ORG; i++) {
      const body = documentedBody("gatehouse_create_webhook", "Webhooks_create");
      await mustCall(g, "POST", orgPath(g, "/webhooks"), asOperator(g), body);
    }
  },
  // Two of them: the page of one (limit=1) has a next page.
  gatehouse_list_webhooks_page: async (g) => {
    for (let i = 0; i < 2; i++) {
      const body = documentedBody("gatehouse_create_webhook", "Webhooks_create");
      await mustCall(g, "POST", orgPath(g, "/webhooks"), asOperator(g), body);
    }
  },
};
