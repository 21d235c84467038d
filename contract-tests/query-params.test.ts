// Every documented query parameter of every operation works: each one has a check here that shows its effect on
// a real Gatehouse, and the first test fails when the OpenAPI document gains a query parameter without one (or
// keeps a check for a parameter it no longer documents). List paging is followed to the end with `cursor`.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  agent,
  escalatingPaymentManifest,
  executeBody,
  operator,
  registerManifest,
  type Caller,
} from "../src/test-support/http";
import { openapi } from "./examples";
import { startTestGatehouse, type TestGatehouse } from "./fixtures";

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document and API answers are walked as plain JSON
type Json = Record<string, any>;

let g: TestGatehouse;
let caller: Caller;
const BOTS = ["params-bot-a", "params-bot-b"] as const;
/** Escalations created per bot (each one a pending approval and an ESCALATE decision record). */
const PER_BOT = { "params-bot-a": 5, "params-bot-b": 2 } as const;
const approvalIds: string[] = [];
/** A webhook receiver that accepts every delivery, and the subscription pointing at it. */
let receiver: Server;
let webhookId: string;

beforeAll(async () => {
  receiver = createServer((req, res) => req.resume().on("end", () => res.writeHead(204).end()));
  await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
  g = await startTestGatehouse({ env: { GATEHOUSE_WEBHOOK_PRIVATE_HOSTS: "127.0.0.1" } });
  caller = { url: g.url, operatorToken: g.operatorToken };
  const { port } = receiver.address() as AddressInfo;
  const hook = await operator(caller).post("/webhooks", {
    url: `http://127.0.0.1:${port}/hook`,
    events: ["approval.created"],
  });
  expect(hook.status, hook.text).toBe(201);
  webhookId = hook.body.webhook_id;
  for (const bot of BOTS) {
    await registerManifest(caller, escalatingPaymentManifest(bot));
    for (let i = 0; i < PER_BOT[bot]; i++) {
      const reply = await agent(caller).post(
        "/api/v1/gateway/execute",
        executeBody(bot, { type: "payment", tool: "send", params: { n: i } }),
      );
      expect(reply.body).toMatchObject({ decision: "ESCALATE" });
      approvalIds.push(reply.body.approval_id);
    }
  }
});

afterAll(async () => {
  await g?.dispose();
  receiver?.close();
});

/** The delivery log once every escalation's `approval.created` was delivered (deliveries are asynchronous). */
async function deliveries(query = ""): Promise<Json[]> {
  for (let i = 0; i < 100; i++) {
    const all = (await list("/webhooks/deliveries")).items as Json[];
    if (all.filter((d) => d.status === "delivered").length >= total) break;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return (await list(`/webhooks/deliveries${query}`)).items as Json[];
}

/** GET as the operator, expecting 200. */
async function list(path: string): Promise<Json> {
  const reply = await operator(caller).get(path);
  expect(reply.status, `${path}: ${reply.text}`).toBe(200);
  return reply.body as Json;
}

/** Follows `next_cursor` from `first` to the last page; every item once. */
async function allPages(base: string, key: string): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const sep = base.includes("?") ? "&" : "?";
    const body = await list(cursor === undefined ? base : `${base}${sep}cursor=${encodeURIComponent(cursor)}`);
    seen.push(...(body.items as Json[]).map((item) => String(item[key])));
    cursor = body.next_cursor;
    if (cursor === undefined) return seen;
  }
  throw new Error("paging did not end");
}

const total = PER_BOT["params-bot-a"] + PER_BOT["params-bot-b"];

/** `operationId.parameter` → a check that shows the parameter's effect. */
const CHECKS: Record<string, () => Promise<void>> = {
  "Gateway_getApproval.wait": async () => {
    const started = Date.now();
    const reply = await agent(caller).get(`/api/v1/gateway/approvals/${approvalIds[0]}?wait=1`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: "pending" });
    // Nobody decides: the long-poll holds the request for the whole second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  },
  "Approvals_list.status": async () => {
    expect((await list("/approvals?status=pending")).items).toHaveLength(total);
    expect((await list("/approvals?status=approved")).items).toHaveLength(0);
  },
  "Approvals_list.agent_id": async () => {
    const items = (await list("/approvals?agent_id=params-bot-b")).items as Json[];
    expect(items.map((a) => a.agent_id)).toEqual(["params-bot-b", "params-bot-b"]);
  },
  "Approvals_list.limit": async () => {
    const body = await list("/approvals?limit=3");
    expect(body.items).toHaveLength(3);
    expect(typeof body.next_cursor).toBe("string");
  },
  "Approvals_list.cursor": async () => {
    const paged = await allPages("/approvals?limit=2", "approval_id");
    expect(paged).toHaveLength(total);
    expect(new Set(paged)).toEqual(new Set(approvalIds));
    const bad = await operator(caller).get("/approvals?cursor=not-ours");
    expect(bad.status).toBe(400);
  },
  "CapabilityTokens_list.agent_id": async () => {
    await issueTokens();
    const items = (await list("/capability-tokens?agent_id=params-bot-a")).items as Json[];
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((t) => t.agent_id === "params-bot-a")).toBe(true);
  },
  "CapabilityTokens_list.uapk_id": async () => {
    await issueTokens();
    const items = (await list("/capability-tokens?uapk_id=params-bot-b")).items as Json[];
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((t) => t.agent_id === "params-bot-b")).toBe(true);
  },
  "CapabilityTokens_list.include_inactive": async () => {
    const ids = await issueTokens();
    await operator(caller).post(`/capability-tokens/${ids[0]}/revoke`);
    const active = ((await list("/capability-tokens")).items as Json[]).map((t) => t.token_id);
    const all = ((await list("/capability-tokens?include_inactive=true")).items as Json[]).map((t) => t.token_id);
    expect(active).not.toContain(ids[0]);
    expect(all).toContain(ids[0]);
  },
  "CapabilityTokens_list.limit": async () => {
    await issueTokens();
    const body = await list("/capability-tokens?limit=1&include_inactive=true");
    expect(body.items).toHaveLength(1);
    expect(typeof body.next_cursor).toBe("string");
  },
  "CapabilityTokens_list.cursor": async () => {
    const ids = await issueTokens();
    const paged = await allPages("/capability-tokens?limit=1&include_inactive=true", "token_id");
    expect(new Set(paged)).toEqual(new Set(ids));
    expect(paged).toHaveLength(ids.length);
  },
  "Manifests_list.limit": async () => {
    const body = await list("/manifests?limit=1");
    expect(body.items).toHaveLength(1);
    expect(typeof body.next_cursor).toBe("string");
  },
  "Manifests_list.cursor": async () => {
    const all = ((await list("/manifests")).items as Json[]).map((m) => String(m.manifest_id));
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(await allPages("/manifests?limit=1", "manifest_id")).toEqual(all);
  },
  "Purutos_list.limit": async () => {
    const total = (await agent(caller).get("/purutos")).body.items.length;
    expect(total).toBeGreaterThanOrEqual(2); // the demo ecosystem: more than one page of one
    const reply = await agent(caller).get("/purutos?limit=1");
    expect(reply.status).toBe(200);
    expect(reply.body.items).toHaveLength(1);
    expect(reply.body.count).toBe(1);
    expect(typeof reply.body.next_cursor).toBe("string");
  },
  "Purutos_list.cursor": async () => {
    const whole = (await agent(caller).get("/purutos")).body.items.map((p: Json) => p.name);
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const reply = await agent(caller).get(`/purutos?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(reply.status).toBe(200);
      paged.push(...reply.body.items.map((p: Json) => p.name));
      cursor = reply.body.next_cursor;
    } while (cursor !== undefined && paged.length < 100);
    expect(paged).toEqual(whole);
  },
  "Interactions_list.agent_id": async () => {
    const items = (await list("/interactions?agent_id=params-bot-b")).items as Json[];
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((r) => r.agent_id === "params-bot-b")).toBe(true);
  },
  "Interactions_list.decision": async () => {
    const items = (await list("/interactions?decision=ESCALATE")).items as Json[];
    expect(items.length).toBe(total);
    expect((await list("/interactions?decision=ALLOW")).items).toHaveLength(0);
  },
  "Interactions_list.since": async () => {
    expect((await list("/interactions?since=2000-01-01T00:00:00Z")).items.length).toBeGreaterThan(0);
    expect((await list("/interactions?since=2999-01-01T00:00:00Z")).items).toHaveLength(0);
  },
  "Interactions_list.until": async () => {
    expect((await list("/interactions?until=2000-01-01T00:00:00Z")).items).toHaveLength(0);
    expect((await list("/interactions?until=2999-01-01T00:00:00Z")).items.length).toBeGreaterThan(0);
  },
  "Interactions_list.limit": async () => {
    const body = await list("/interactions?limit=2");
    expect(body.items).toHaveLength(2);
    expect(typeof body.next_cursor).toBe("string");
  },
  "Interactions_list.cursor": async () => {
    const all = ((await list("/interactions?limit=500")).items as Json[]).map((r) => String(r.seq));
    const paged = await allPages("/interactions?limit=2", "seq");
    expect(paged).toEqual(all);
  },
  "Interactions_list.reason_code": async () => {
    const escalated = (await list("/interactions?reason_code=REQUIRES_APPROVAL")).items as Json[];
    expect(escalated.length).toBeGreaterThan(0);
    expect(escalated.every((r) => r.agent_id === "params-bot-a" || r.agent_id === "params-bot-b")).toBe(true);
    expect((await list("/interactions?reason_code=NO_SUCH_REASON")).items).toHaveLength(0);
  },
  "Webhooks_deliveries.webhook_id": async () => {
    const mine = await deliveries(`?webhook_id=${webhookId}`);
    expect(mine).toHaveLength(total);
    expect(mine.every((d) => d.webhook_id === webhookId)).toBe(true);
    expect(await deliveries("?webhook_id=no-such-webhook")).toHaveLength(0);
  },
  "Webhooks_deliveries.approval_id": async () => {
    const one = await deliveries(`?approval_id=${approvalIds[0]}`);
    expect(one.map((d) => d.approval_id)).toEqual([approvalIds[0]]);
  },
  "Webhooks_deliveries.status": async () => {
    expect(await deliveries("?status=delivered")).toHaveLength(total);
    expect(await deliveries("?status=failed")).toHaveLength(0);
  },
  "Webhooks_deliveries.limit": async () => {
    expect(await deliveries("?limit=2")).toHaveLength(2);
  },
  "Webhooks_deliveries.cursor": async () => {
    const all = (await deliveries("?limit=500")).map((d) => String(d.delivery_id));
    expect(all).toHaveLength(total);
    expect(await allPages("/webhooks/deliveries?limit=2", "delivery_id")).toEqual(all);
    // Filters hold on every page.
    expect(await allPages(`/webhooks/deliveries?limit=1&webhook_id=${webhookId}`, "delivery_id")).toEqual(all);
  },
  "Webhooks_list.limit": async () => {
    await moreWebhooks();
    const body = await list("/webhooks?limit=1");
    expect(body.items).toHaveLength(1);
    expect(typeof body.next_cursor).toBe("string");
  },
  "Webhooks_list.cursor": async () => {
    await moreWebhooks();
    const all = ((await list("/webhooks")).items as Json[]).map((w) => String(w.webhook_id));
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(await allPages("/webhooks?limit=1", "webhook_id")).toEqual(all);
  },
  "LiveSessions_list.limit": async () => {
    await ideSessions();
    const body = await list("/sessions?limit=2");
    expect(body.items).toHaveLength(2);
    expect(typeof body.next_cursor).toBe("string");
  },
  "LiveSessions_list.cursor": async () => {
    const ids = await ideSessions();
    const all = ((await list("/sessions")).items as Json[]).map((s) => String(s.session_id));
    expect(new Set(all)).toEqual(new Set(ids));
    expect(await allPages("/sessions?limit=1", "session_id")).toEqual(all);
  },
  "Manifests_list.status": async () => {
    const manifests = (await list("/manifests")).items as Json[];
    const b = manifests.find((m) => m.uapk_id === "params-bot-b")!;
    expect((await operator(caller).post(`/manifests/${b.manifest_id}/suspend`)).status).toBe(200);
    const suspended = (await list("/manifests?status=suspended")).items as Json[];
    expect(suspended.map((m) => m.uapk_id)).toEqual(["params-bot-b"]);
    expect(((await list("/manifests?status=active")).items as Json[]).map((m) => m.uapk_id)).not.toContain(
      "params-bot-b",
    );
    expect((await operator(caller).post(`/manifests/${b.manifest_id}/activate`)).status).toBe(200);
  },
};

let hooks: Promise<void> | undefined;
/** Two more subscriptions (for expiries only: they receive nothing the delivery checks count), once. */
function moreWebhooks(): Promise<void> {
  hooks ??= (async () => {
    const { port } = receiver.address() as AddressInfo;
    for (const n of [1, 2]) {
      const hook = await operator(caller).post("/webhooks", {
        url: `http://127.0.0.1:${port}/hook-${n}`,
        events: ["approval.expired"],
      });
      expect(hook.status, hook.text).toBe(201);
    }
  })();
  return hooks;
}

let sessions: Promise<string[]> | undefined;
/** Three IDE sessions of a developer of the org, connected over the WebSocket (closed when the server stops), once. */
function ideSessions(): Promise<string[]> {
  sessions ??= (async () => {
    const ids = ["params-session-1", "params-session-2", "params-session-3"];
    const token = await g.userTokenFor(g.orgId, "dev@params", ["developer"]);
    for (const id of ids) {
      const ws = new WebSocket(`${g.url.replace(/^http/, "ws")}/ws/${id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      });
    }
    return ids;
  })();
  return sessions;
}

let issued: Promise<string[]> | undefined;
/** One token per bot, once. */
function issueTokens(): Promise<string[]> {
  issued ??= (async () => {
    const ids: string[] = [];
    for (const bot of BOTS) {
      const reply = await operator(caller).post("/capability-tokens", {
        agent_id: bot,
        uapk_id: bot,
        capabilities: ["payment:send"],
      });
      expect(reply.status, reply.text).toBe(201);
      ids.push(reply.body.token_id);
    }
    return ids;
  })();
  return issued;
}

function documentedQueryParameters(): string[] {
  const names: string[] = [];
  for (const item of Object.values(openapi.paths as Record<string, Json>)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method] as Json | undefined;
      for (const p of (op?.parameters ?? []) as Json[])
        if (p.in === "query") names.push(`${op!.operationId}.${p.name}`);
    }
  }
  return names.sort();
}

describe("every documented query parameter works", () => {
  it("each documented query parameter has a check here, and each check a documented parameter", () => {
    expect(Object.keys(CHECKS).sort()).toEqual(documentedQueryParameters());
  });

  for (const name of documentedQueryParameters()) {
    it(name, async () => {
      const check = CHECKS[name];
      if (!check) throw new Error(`no check for ${name}`);
      await check();
    });
  }
});

describe("an empty filter", () => {
  // `?agent_id=` (a client that built the query from an empty variable) used to be read as no filter at all: the
  // whole org's approvals, tokens or records came back as if they were that agent's.
  it.each([
    "/approvals?agent_id=",
    "/capability-tokens?agent_id=",
    "/capability-tokens?uapk_id=",
    "/interactions?agent_id=",
    "/interactions?reason_code=",
    "/webhooks/deliveries?webhook_id=",
    "/webhooks/deliveries?approval_id=",
  ])("is refused, not read as no filter: %s", async (path) => {
    const reply = await operator(caller).get(path);
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body).toMatchObject({ code: "VALIDATION_FAILED" });
  });
});

describe("a numeric parameter", () => {
  // Ajv's coercion read any text JavaScript takes for a number: `limit=0x10` was a page of 16, `1e2` of 100.
  it.each([
    "/approvals?limit=0x10",
    "/approvals?limit=1e2",
    "/approvals?limit=0b11",
    "/approvals?limit=%205",
    "/approvals?limit=5%20",
    "/approvals?limit=+5",
    "/approvals?limit=5.0",
    "/approvals?limit=Infinity",
  ])("is read only from decimal digits: %s", async (path) => {
    const reply = await operator(caller).get(path);
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body).toMatchObject({ code: "VALIDATION_FAILED" });
    expect(reply.body.errors).toEqual([
      { pointer: "/query/limit", message: "must be an integer written in decimal digits" },
    ]);
  });

  it("in the path too: a manifest version", async () => {
    const id = ((await list("/manifests?limit=1")).items as Json[])[0]!.manifest_id;
    expect((await operator(caller).get(`/manifests/${id}/versions/1`)).status).toBe(200);
    const reply = await operator(caller).get(`/manifests/${id}/versions/1e0`);
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body.errors).toEqual([
      { pointer: "/path/version", message: "must be an integer written in decimal digits" },
    ]);
  });

  it("decimal digits still page as before", async () => {
    expect((await list("/approvals?limit=007")).items).toHaveLength(7);
  });
});
