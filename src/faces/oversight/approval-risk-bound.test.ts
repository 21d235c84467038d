// An approval's risk picture names the action's recipients, and an action may name thousands. Every view of the
// approval (the operator's GET and list, the agent's read, each webhook delivery) carries the first 100 and how
// many there are in all; the approval itself stays bound to every recipient. On both store backends.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../contract-tests/fixtures";
import { agent, executeBody, operator, registerManifest } from "../../test-support/http";
import { gatehouseBackends, type OpenedBackend } from "../../test-support/backends";

const UAPK = "mass-mailer";
const RECIPIENTS = 5000;
const SECRET = "whsec-test-0123456789abcdef0123456789abcdef";

/** `count` distinct addresses, each ~30 bytes: 5,000 of them are ~150 KB of JSON. */
const addresses = (count: number, tag = "") =>
  Array.from({ length: count }, (_, i) => `reader-${tag}${String(i).padStart(5, "0")}@newsletter.example`);

async function startReceiver() {
  const bodies: { path: string; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      bodies.push({ path: req.url ?? "", body });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    async close() {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const backends = await gatehouseBackends("approval risk bound");

describe.each(backends)("an approval's recipients are bounded in every view ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const to = addresses(RECIPIENTS);
  const action = { type: "email", tool: "send", params: { to, subject: "Spring news", body: "Hello" } };
  let approvalId: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    opened = await backend.open();
    g = await startTestGatehouse({ env: { ...opened.env, GATEHOUSE_WEBHOOK_PRIVATE_HOSTS: "127.0.0.1" } });
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Mass Mailer" },
      capabilities: ["email:send"],
      constraints: { require_human_approval: ["email:send"] },
      tools: { "email:send": { connector: { type: "echo" } } },
    });
    for (const format of ["gatehouse", "slack"]) {
      const reply = await operator(g).post("/webhooks", { url: `${receiver.url}/${format}`, secret: SECRET, format });
      expect(reply.status, reply.text).toBe(201);
    }
    const reply = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action));
    expect(reply.body).toMatchObject({ decision: "ESCALATE" });
    approvalId = reply.body.approval_id;
  });

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
    await receiver?.close();
  });

  it("GET shows the first 100 recipients, the total and that the list was cut, in a small body", async () => {
    const reply = await operator(g).get(`/approvals/${approvalId}`);
    expect(reply.status).toBe(200);
    expect(reply.body.risk.recipients).toEqual(to.slice(0, 100));
    expect(reply.body.risk).toMatchObject({ recipients_total: RECIPIENTS, recipients_truncated: true });
    // 5,000 addresses are ~150 KB; the view holds 100 of them (and the params' bounded summary).
    expect(reply.text.length).toBeLessThan(16 * 1024);
    // The agent's view has no risk picture (the operator's), and its params are bounded the same way.
    const asAgent = await agent(g).get(`/api/v1/gateway/approvals/${approvalId}`);
    expect(asAgent.body).not.toHaveProperty("risk");
    expect(asAgent.text.length).toBeLessThan(16 * 1024);
  });

  it("a page of such approvals stays small", async () => {
    for (const tag of ["a", "b", "c"]) {
      const more = { ...action, params: { ...action.params, to: addresses(RECIPIENTS, tag) } };
      expect((await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, more))).body.decision).toBe("ESCALATE");
    }
    const page = await operator(g).get("/approvals?status=pending");
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength(4);
    for (const item of page.body.items) expect(item.risk.recipients).toHaveLength(100);
    expect(page.text.length).toBeLessThan(4 * 16 * 1024);
  });

  it("webhooks carry the bounded picture; Slack names a few and counts the rest", async () => {
    const event = await until("the gatehouse event", () => receiver.bodies.find((b) => b.path === "/gatehouse"));
    const approval = JSON.parse(event.body).approval;
    expect(approval.risk).toMatchObject({ recipients_total: RECIPIENTS, recipients_truncated: true });
    expect(approval.risk.recipients).toHaveLength(100);
    expect(event.body.length).toBeLessThan(16 * 1024);

    const slack = await until("the slack message", () => receiver.bodies.find((b) => b.path === "/slack"));
    const fields = JSON.parse(slack.body).blocks.flatMap((b: { fields?: { text: string }[] }) => b.fields ?? []);
    const line = fields.map((f: { text: string }) => f.text).find((t: string) => t.startsWith("*Recipients*"));
    expect(line).toContain(to[0]);
    expect(line).toContain(`and ${RECIPIENTS - 10} more (${RECIPIENTS} in all)`);
    expect(slack.body.length).toBeLessThan(4 * 1024);
  });

  it("the approval stays bound to every recipient: all 5,000 use it, a changed 5,000th does not", async () => {
    expect((await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "newsletter" })).status).toBe(200);
    const swapped = [...to.slice(0, -1), "attacker@evil.example"];
    const changed = executeBody(
      UAPK,
      { ...action, params: { ...action.params, to: swapped } },
      {
        approval_id: approvalId,
      },
    );
    const refused = await agent(g).post("/api/v1/gateway/execute", changed);
    expect(refused.body.decision).not.toBe("ALLOW");
    const started = Date.now();
    const used = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action, { approval_id: approvalId }));
    expect(used.body).toMatchObject({ decision: "ALLOW", executed: true });
    // Its 5,000 counterparties are remembered in a few inserts: one round trip each held this answer ~20 s on
    // PostgreSQL.
    expect(Date.now() - started).toBeLessThan(8000);
    const [known] = (await opened.rows(g, "SELECT count(*) AS n FROM known_counterparties")) as { n: unknown }[];
    expect(Number(known?.n)).toBe(RECIPIENTS);
  });
});
