// The notifier on its own: the SSRF guard at delivery time (a name that resolves to a private address is
// refused when the connection is made, not only when the URL is checked), backoff bounds, and the environment's
// default subscription.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createMemoryEventBus } from "../events";
import { secretBox } from "../store/shared/secret-box";
import { openMigratedDatabase } from "../store/test-support";
import { webhookConfigFromEnv } from "./config";
import { backoffMs, createWebhookNotifier, DEFAULT_RETRY } from "./notifier";
import { verifySignature } from "./signature";
import { createWebhookStore, type WebhookStore } from "./webhook-store";

const ORG = "org-a";
const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function setup(resolvesTo: string) {
  const db = await openMigratedDatabase();
  const events = createMemoryEventBus();
  const approvals = createApprovalStore(db, { events });
  const store = createWebhookStore(db, { box: secretBox("a test secret of enough length") });
  const notifier = createWebhookNotifier({
    store,
    approvals,
    events,
    render: (a) => a,
    publicUrl: () => "https://gatehouse.example.org",
    target: { privateHosts: [] },
    retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
    lookup: async () => [{ address: resolvesTo, family: 4 }],
  });
  closers.push(
    () => notifier.close(),
    () => approvals.close(),
    () => db.close(),
  );
  return { db, approvals, store, notifier };
}

const escalation = {
  org_id: ORG,
  uapk_id: "bot",
  agent_id: "bot",
  action: { type: "payment", tool: "send", params: { to: "a@b.example" } },
  reasons: [{ code: "REQUIRES_APPROVAL", message: "needs a human" }],
};

/** A subscription of ORG (well below any limit). */
async function subscribed(store: WebhookStore, input: Parameters<WebhookStore["create"]>[1]) {
  const webhook = await store.create(ORG, input, 100);
  if (!webhook) throw new Error("the subscription was refused");
  return webhook;
}

describe("webhook notifier", () => {
  it("refuses a public-looking name that resolves to a private address, at connection time, without retrying", async () => {
    const { approvals, store, notifier } = await setup("169.254.169.254");
    const webhook = await subscribed(store, {
      url: "https://hooks.example.com/in",
      format: "gatehouse",
      events: ["approval.created"],
    });
    const approval = approvals.create(escalation);
    await expect.poll(async () => (await store.deliveries(ORG))[0]?.status).toBe("failed");
    await notifier.idle();
    const [delivery] = await store.deliveries(ORG);
    expect(delivery).toMatchObject({ webhook_id: webhook.webhook_id, approval_id: approval.approval_id });
    expect(delivery?.attempts).toHaveLength(1);
    expect(delivery?.attempts[0]?.error).toContain("private, loopback or reserved address (169.254.169.254)");
    expect(delivery?.attempts[0]).not.toHaveProperty("status_code");
  });

  it("records one delivery per subscription and event, however often the event is heard", async () => {
    const { approvals, store } = await setup("10.0.0.1");
    await subscribed(store, { url: "https://hooks.example.com/in", format: "slack", events: ["approval.decided"] });
    const approval = approvals.create(escalation);
    approvals.deny(ORG, approval.approval_id, { by: "op" });
    await expect.poll(async () => (await store.deliveries(ORG)).length).toBe(1);
    // Another node hearing the same event records nothing new (the unique key of the log).
    const [first] = await store.deliveries(ORG);
    expect(await store.insertDelivery({ ...first!, delivery_id: "whd-other-node" })).toBe(false);
    expect(await store.deliveries(ORG)).toHaveLength(1);
  });

  it("sends approval.expired when an approval runs out, signed, to a loopback host only because it is allow-listed", async () => {
    const bodies: { body: string; signature: string }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        bodies.push({ body, signature: String(req.headers["gatehouse-signature"]) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    closers.push(() => server.close());
    const db = await openMigratedDatabase();
    const events = createMemoryEventBus();
    const approvals = createApprovalStore(db, { events });
    const store = createWebhookStore(db, { box: secretBox("a test secret of enough length") });
    const notifier = createWebhookNotifier({
      store,
      approvals,
      events,
      render: (a) => ({ approval_id: a.approval_id, status: a.status }),
      publicUrl: () => "https://gatehouse.example.org",
      target: { privateHosts: ["127.0.0.1"] },
      sweepIntervalMs: 20,
    });
    closers.push(
      () => notifier.close(),
      () => approvals.close(),
      () => db.close(),
    );
    const { port } = server.address() as AddressInfo;
    const webhook = await subscribed(store, {
      url: `http://127.0.0.1:${port}/expired`,
      format: "gatehouse",
      events: ["approval.expired"],
    });
    const approval = approvals.create({ ...escalation, ttl_ms: 30 });
    // Nobody reads the approval: the notifier's own sweep finds the expiry.
    await expect.poll(() => bodies.length).toBe(1);
    const [received] = bodies;
    expect(verifySignature(webhook.secret, received?.signature, received?.body ?? "").ok).toBe(true);
    expect(JSON.parse(received?.body ?? "{}")).toMatchObject({
      type: "approval.expired",
      approval: { approval_id: approval.approval_id, status: "expired" },
      console_url: `https://gatehouse.example.org/console#/approvals/${approval.approval_id}`,
    });
    await expect.poll(async () => (await store.deliveries(ORG))[0]?.status).toBe("delivered");
  });

  it("backs off exponentially, capped", () => {
    const retry = { maxAttempts: 8, baseDelayMs: 5000, maxDelayMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(retry, n))).toEqual([5000, 10_000, 20_000, 40_000, 60_000, 60_000]);
    expect(DEFAULT_RETRY.maxAttempts).toBeGreaterThan(1);
  });

  it("takes its default subscription from the environment, guarded like the others", () => {
    expect(webhookConfigFromEnv({})).toMatchObject({ privateHosts: [], retry: DEFAULT_RETRY });
    const secret = "s".repeat(32);
    expect(
      webhookConfigFromEnv({
        GATEHOUSE_WEBHOOK_URL: "https://hooks.slack.com/services/T/B/X",
        GATEHOUSE_WEBHOOK_SECRET: secret,
        GATEHOUSE_WEBHOOK_FORMAT: "slack",
      }).envDefault,
    ).toEqual({ url: "https://hooks.slack.com/services/T/B/X", format: "slack", secret });
    expect(() =>
      webhookConfigFromEnv({ GATEHOUSE_WEBHOOK_URL: "http://127.0.0.1:9/", GATEHOUSE_WEBHOOK_SECRET: secret }),
    ).toThrow(/GATEHOUSE_WEBHOOK_PRIVATE_HOSTS/);
    expect(() => webhookConfigFromEnv({ GATEHOUSE_WEBHOOK_URL: "https://hooks.example.com/" })).toThrow(
      /GATEHOUSE_WEBHOOK_SECRET/,
    );
    expect(
      webhookConfigFromEnv({
        GATEHOUSE_WEBHOOK_URL: "http://127.0.0.1:9/",
        GATEHOUSE_WEBHOOK_SECRET: secret,
        GATEHOUSE_WEBHOOK_PRIVATE_HOSTS: "127.0.0.1",
      }).envDefault?.url,
    ).toBe("http://127.0.0.1:9/");
  });

  it("lists the environment's subscription for the default org only, and signs with its secret", async () => {
    const db = await openMigratedDatabase();
    closers.push(() => db.close());
    const envDefault = {
      url: "https://hooks.example.com/env",
      format: "gatehouse" as const,
      secret: "e".repeat(32),
      defaultOrg: ORG,
    };
    const store = createWebhookStore(db, { box: secretBox("a test secret of enough length"), envDefault });
    expect((await store.list(ORG)).map((w) => [w.webhook_id, w.source])).toEqual([["env-default", "environment"]]);
    expect(await store.list("org-b")).toEqual([]);
    expect((await store.subscribedTo(ORG, "approval.expired"))[0]?.secret).toBe("e".repeat(32));
  });
});
