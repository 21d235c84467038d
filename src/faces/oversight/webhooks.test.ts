// Approval notifications end to end: a real Gatehouse, an agent escalating through execute, and a local
// receiver that verifies `Gatehouse-Signature` as the README tells receivers to. Subscriptions and the delivery
// log through the operator API; a retry after the receiver fails once; the SSRF guard on targets.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../contract-tests/fixtures";
import { verifySignature } from "../../core/notifications";
import { agent, executeBody, operator, registerManifest } from "../../test-support/http";
import { gatehouseBackends, type OpenedBackend } from "../../test-support/backends";

const UAPK = "notify-bot";
const SECRET = "whsec-test-0123456789abcdef0123456789abcdef";
const PUBLIC_URL = "https://gatehouse.example.org";
const RETRY_BASE_MS = 150;

interface Delivered {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The receiver's own check of the signature, as a receiver must do it. */
  verified: boolean;
  status: number;
  at: number;
}

/** A receiver that answers 500 to the first `failFirst` requests of a path, then 200. */
async function startWebhookReceiver(failFirst: Record<string, number> = {}) {
  const delivered: Delivered[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const path = req.url ?? "";
      const seen = delivered.filter((d) => d.path === path).length;
      const status = seen < (failFirst[path] ?? 0) ? 500 : 200;
      const signature = req.headers["gatehouse-signature"];
      const verified = verifySignature(SECRET, Array.isArray(signature) ? signature[0] : signature, body).ok;
      delivered.push({ path, headers: req.headers, body, verified, status, at: Date.now() });
      res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "boom");
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    delivered,
    on: (path: string) => delivered.filter((d) => d.path === path),
    async close() {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const backends = await gatehouseBackends("approval notifications e2e");

let g: TestGatehouse;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

async function escalate(invoice: string): Promise<string> {
  const reply = await agent(g).post(
    "/api/v1/gateway/execute",
    executeBody(UAPK, {
      type: "payment",
      tool: "send",
      params: { invoice, to: "billing@acme.example" },
      amount: 900,
      currency: "EUR",
    }),
  );
  expect(reply.body).toMatchObject({ decision: "ESCALATE" });
  return reply.body.approval_id as string;
}

async function subscribe(path: string, extra: Record<string, unknown> = {}): Promise<string> {
  const reply = await operator(g).post("/webhooks", { url: `${receiver.url}${path}`, secret: SECRET, ...extra });
  expect(reply.status, reply.text).toBe(201);
  return reply.body.webhook_id as string;
}

describe.each(backends)("approval notifications (webhooks) ($name)", (backend) => {
  let opened: OpenedBackend;
  beforeAll(async () => {
    receiver = await startWebhookReceiver({ "/flaky": 1, "/down": 99 });
    opened = await backend.open();
    g = await startTestGatehouse({
      env: {
        ...opened.env,
        GATEHOUSE_WEBHOOK_PRIVATE_HOSTS: "127.0.0.1",
        GATEHOUSE_WEBHOOK_RETRY_BASE_MS: String(RETRY_BASE_MS),
        GATEHOUSE_WEBHOOK_MAX_ATTEMPTS: "3",
        GATEHOUSE_PUBLIC_URL: PUBLIC_URL,
      },
    });
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Notify Bot" },
      capabilities: ["payment:send"],
      policy: { amount_threshold: { amount: 100, currency: "EUR" } },
      tools: { "payment:send": { connector: { type: "echo" } } },
    });
  });

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
    await receiver?.close();
  });

  it("signs every event; the receiver verifies it; created and decided arrive with a console link", async () => {
    const webhookId = await subscribe("/signed", { events: ["approval.created", "approval.decided"] });
    const approvalId = await escalate("inv-1");

    const created = await until("approval.created", () =>
      receiver.on("/signed").find((d) => JSON.parse(d.body).approval.approval_id === approvalId),
    );
    expect(created.verified).toBe(true);
    expect(created.headers["gatehouse-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(created.headers["gatehouse-event"]).toBe("approval.created");
    const event = JSON.parse(created.body);
    expect(event).toMatchObject({
      id: `approval.created:${approvalId}`,
      type: "approval.created",
      org_id: g.orgId,
      approval: { approval_id: approvalId, status: "pending", agent_id: UAPK, action: { amount: 900 } },
      console_url: `${PUBLIC_URL}/console#/approvals/${approvalId}`,
    });
    expect(event.approval.reasons.map((r: { code: string }) => r.code)).toContain("AMOUNT_THRESHOLD");
    // The risk snapshot taken when the approval was created travels with it.
    expect(event.approval.risk).toEqual({
      amount: 900,
      currency: "EUR",
      recipients: ["billing@acme.example"],
      recipients_total: 1,
      recipients_truncated: false,
      reason_codes: ["AMOUNT_THRESHOLD"],
    });
    // A tampered body or another secret does not verify.
    const header = created.headers["gatehouse-signature"] as string;
    expect(verifySignature(SECRET, header, created.body.replace("900", "9")).ok).toBe(false);
    expect(verifySignature(`${SECRET}x`, header, created.body).ok).toBe(false);

    expect((await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "known vendor" })).status).toBe(200);
    const decided = await until("approval.decided", () =>
      receiver.on("/signed").find((d) => JSON.parse(d.body).type === "approval.decided"),
    );
    expect(decided.verified).toBe(true);
    expect(JSON.parse(decided.body).approval).toMatchObject({
      approval_id: approvalId,
      status: "approved",
      decided_by: "operator@contract",
      reason: "known vendor",
    });

    // The receiver answered; the try is recorded right after (on PostgreSQL, one round trip later).
    const log = await until("both deliveries recorded as delivered", async () => {
      const reply = await operator(g).get(`/webhooks/deliveries?webhook_id=${webhookId}`);
      expect(reply.status).toBe(200);
      const items = reply.body.items as { status: string }[];
      return items.length === 2 && items.every((d) => d.status === "delivered") ? reply : undefined;
    });
    expect(log.body.items).toHaveLength(2);
    for (const delivery of log.body.items) {
      expect(delivery).toMatchObject({ webhook_id: webhookId, approval_id: approvalId, status: "delivered" });
      expect(delivery.attempts).toEqual([expect.objectContaining({ attempt: 1, status_code: 200 })]);
    }
    expect(log.body.items.map((d: { event: string }) => d.event).sort()).toEqual([
      "approval.created",
      "approval.decided",
    ]);
  });

  it("retries after the receiver fails once, with the same event id and a fresh signature", async () => {
    const webhookId = await subscribe("/flaky", { events: ["approval.created"] });
    const approvalId = await escalate("inv-2");
    const tries = await until("two tries", () =>
      receiver.on("/flaky").length >= 2 ? receiver.on("/flaky") : undefined,
    );
    const [first, second] = tries as [Delivered, Delivered];
    expect([first.status, second.status]).toEqual([500, 200]);
    expect(second.verified).toBe(true);
    expect(second.at - first.at).toBeGreaterThanOrEqual(RETRY_BASE_MS - 10);
    expect(JSON.parse(second.body).id).toBe(JSON.parse(first.body).id);
    expect(second.headers["gatehouse-delivery"]).toBe(first.headers["gatehouse-delivery"]);

    const log = await until("delivered in the log", async () => {
      const reply = await operator(g).get(`/webhooks/deliveries?webhook_id=${webhookId}`);
      return reply.body.items[0]?.status === "delivered" ? reply.body.items[0] : undefined;
    });
    expect(log).toMatchObject({ approval_id: approvalId, event: "approval.created" });
    expect(log.attempts).toEqual([
      expect.objectContaining({ attempt: 1, status_code: 500, error: "the receiver answered HTTP 500" }),
      expect.objectContaining({ attempt: 2, status_code: 200 }),
    ]);
    expect(receiver.on("/flaky")).toHaveLength(2);
  });

  it("gives up after the configured number of tries and says so in the log", async () => {
    const webhookId = await subscribe("/down", { events: ["approval.created"] });
    await escalate("inv-3");
    const failed = await until("failed in the log", async () => {
      const reply = await operator(g).get(`/webhooks/deliveries?webhook_id=${webhookId}&status=failed`);
      return reply.body.items[0];
    });
    expect(failed.attempts.map((a: { status_code: number }) => a.status_code)).toEqual([500, 500, 500]);
    expect(failed).not.toHaveProperty("next_attempt_at");
    await new Promise((r) => setTimeout(r, RETRY_BASE_MS * 5));
    expect(receiver.on("/down")).toHaveLength(3);
  });

  it("sends Slack incoming-webhook blocks with a button that opens the console at the approval", async () => {
    await subscribe("/slack", { format: "slack", events: ["approval.created"] });
    const approvalId = await escalate("inv-4");
    const message = await until("slack message", () =>
      receiver
        .on("/slack")
        .map((d) => JSON.parse(d.body))
        .find((m) => JSON.stringify(m).includes(approvalId)),
    );
    expect(message.text).toBe(`Approval needed: payment:send by ${UAPK} (900 EUR)`);
    const actions = message.blocks.find((b: { type: string }) => b.type === "actions");
    expect(actions.elements[0]).toMatchObject({
      type: "button",
      text: { type: "plain_text", text: "Review in Gatehouse" },
      url: `${PUBLIC_URL}/console#/approvals/${approvalId}`,
    });
    expect(JSON.stringify(message.blocks)).toContain("AMOUNT_THRESHOLD");
  });

  it("refuses targets the SSRF guard refuses, as problem+json", async () => {
    for (const url of [
      "http://169.254.169.254/latest/meta-data/",
      "http://127.0.0.2:9/",
      "http://10.1.2.3/hook",
      "http://localhost:8080/hook",
      "http://localhost.:8080/hook",
      "http://metadata.google.internal./computeMetadata/v1/",
      "http://[64:ff9b::7f00:1]/hook", // NAT64 form of 127.0.0.1
      "http://[2002:a9fe:a9fe::]/latest/meta-data/", // 6to4 form of 169.254.169.254
      "ftp://hooks.example.com/",
      "https://user:pass@hooks.example.com/",
    ]) {
      const reply = await operator(g).post("/webhooks", { url });
      expect(reply.status, url).toBe(400);
      expect(reply.headers.get("content-type")).toContain("application/problem+json");
      expect(reply.body.code, url).toBe("WEBHOOK_TARGET_REFUSED");
    }
  });

  it("lists subscriptions without their secret, removes one, and keeps its log", async () => {
    const created = await operator(g).post("/webhooks", { url: "https://hooks.example.com/gatehouse" });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec-/);
    const list = await operator(g).get("/webhooks");
    expect(list.body.items.find((w: { webhook_id: string }) => w.webhook_id === created.body.webhook_id)).toEqual({
      webhook_id: created.body.webhook_id,
      org_id: g.orgId,
      url: "https://hooks.example.com/gatehouse",
      format: "gatehouse",
      events: ["approval.created", "approval.decided", "approval.expired"],
      source: "api",
      created_at: expect.any(String),
    });
    expect(JSON.stringify(list.body)).not.toContain("whsec-");
    const remove = () =>
      fetch(`${g.url}/api/v1/orgs/${g.orgId}/webhooks/${created.body.webhook_id}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${g.operatorToken}` },
      });
    expect((await remove()).status).toBe(204);
    const again = await remove();
    expect(again.status).toBe(404);
    expect(((await again.json()) as { code?: string }).code).toBe("WEBHOOK_NOT_FOUND");
  });

  it("is for operators of the org only", async () => {
    const developer = await g.devIssuer!.mint({ sub: "dev@contract", org: g.orgId, roles: ["developer"] });
    const other = await g.devIssuer!.mint({ sub: "op@other", org: "other-org", roles: ["operator"] });
    for (const token of [developer, other]) {
      const reply = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/webhooks/deliveries`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(reply.status).toBe(403);
    }
  });
});

describe.each(backends)("subscriptions per org ($name)", (backend) => {
  const LIMIT = 3;
  let opened: OpenedBackend;
  let node: TestGatehouse;
  beforeAll(async () => {
    opened = await backend.open();
    node = await startTestGatehouse({ env: { ...opened.env, GATEHOUSE_WEBHOOKS_PER_ORG: String(LIMIT) } });
  });
  afterAll(async () => {
    await node?.dispose();
    await opened?.dispose();
  });

  const create = (org: string, token: string) =>
    fetch(`${node.url}/api/v1/orgs/${org}/webhooks`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ url: "https://hooks.example.com/gatehouse" }),
    });

  it("are bounded: creates racing for the last places never take more than the limit", async () => {
    const replies = await Promise.all(Array.from({ length: 12 }, () => create(node.orgId, node.operatorToken)));
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(LIMIT).fill(201), ...Array(12 - LIMIT).fill(409)]);
    const refused = (await replies.find((r) => r.status === 409)!.json()) as Record<string, unknown>;
    expect(refused).toMatchObject({ code: "WEBHOOK_LIMIT_REACHED" });
    expect(refused.detail).toContain(`${LIMIT} webhook subscriptions`);
    expect((await operator(node).get("/webhooks")).body.items).toHaveLength(LIMIT);

    // Another org has its own places; a removed subscription frees one.
    const other = await node.devIssuer!.mint({ sub: "op@other", org: "other-org", roles: ["operator"] });
    expect((await create("other-org", other)).status).toBe(201);
    const [first] = (await operator(node).get("/webhooks")).body.items as { webhook_id: string }[];
    const removed = await fetch(`${node.url}/api/v1/orgs/${node.orgId}/webhooks/${first!.webhook_id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${node.operatorToken}` },
    });
    expect(removed.status).toBe(204);
    expect((await create(node.orgId, node.operatorToken)).status).toBe(201);
    expect((await create(node.orgId, node.operatorToken)).status).toBe(409);
  });
});
