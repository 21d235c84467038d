// Cursors and page sizes under attack, on both backends: every paged operator list (approvals, capability tokens,
// manifests, interactions, live sessions, webhooks, webhook deliveries) refuses a cursor it did not issue — another
// list's, a tampered one, a huge one — and a page size outside 1–500 with a 400 problem+json; never a 5xx, and never
// another org's items. A cursor is a position, not a capability: another org's cursor positions within the caller's
// own list at most. The lists paged here for the first time (sessions, webhooks, deliveries) are followed to the end.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { gatehouseBackends, type OpenedBackend } from "../../src/test-support/backends";
import {
  agent,
  escalatingPaymentManifest,
  executeBody,
  operator,
  registerManifest,
  type Caller,
} from "../../src/test-support/http";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";

// biome-ignore lint/suspicious/noExplicitAny: API answers are walked as plain JSON
type Json = Record<string, any>;

const OTHER_ORG = "99999999-0000-4000-8000-000000000000";
const BOTS = ["cursor-bot-a", "cursor-bot-b"];
const ESCALATIONS = 3;

/** Each paged list: its path (with what makes it list everything) and the id of its items. */
const LISTS = {
  approvals: { path: "/approvals", id: "approval_id" },
  tokens: { path: "/capability-tokens?include_inactive=true", id: "token_id" },
  manifests: { path: "/manifests", id: "manifest_id" },
  interactions: { path: "/interactions", id: "seq" },
  sessions: { path: "/sessions", id: "session_id" },
  webhooks: { path: "/webhooks", id: "webhook_id" },
  deliveries: { path: "/webhooks/deliveries", id: "delivery_id" },
} as const;
type ListName = keyof typeof LISTS;
const NEW_LISTS: ListName[] = ["sessions", "webhooks", "deliveries"];

const withQuery = (path: string, query: string) => `${path}${path.includes("?") ? "&" : "?"}${query}`;

describe.each(await gatehouseBackends("cursor attacks"))("paged lists under attack ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let mine: Caller;
  let theirs: Caller;
  let receiver: Server;
  const sockets: WebSocket[] = [];

  /** GET on the org's list as `who`; the raw answer. */
  async function get(who: Caller, path: string, org = g.orgId) {
    const res = await fetch(`${g.url}/api/v1/orgs/${org}${path}`, {
      headers: { authorization: `Bearer ${who.operatorToken}` },
    });
    const text = await res.text();
    return { status: res.status, contentType: res.headers.get("content-type") ?? "", text };
  }

  async function page(who: Caller, path: string, org = g.orgId): Promise<Json> {
    const res = await get(who, path, org);
    expect(res.status, `${path}: ${res.text}`).toBe(200);
    return JSON.parse(res.text) as Json;
  }

  /** The cursor after the first item of a list (each list holds more than one item here). */
  async function cursorOf(list: ListName, who = mine, org = g.orgId): Promise<string> {
    const first = await page(who, withQuery(LISTS[list].path, "limit=1"), org);
    expect(first.next_cursor, `${list} has a second page`).toEqual(expect.any(String));
    return first.next_cursor as string;
  }

  async function expectRefused(path: string, why: string) {
    const res = await get(mine, path);
    expect(res.status, `${why}: ${path} → ${res.text.slice(0, 300)}`).toBe(400);
    expect(res.contentType).toContain("application/problem+json");
    expect(JSON.parse(res.text)).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
  }

  async function ideSession(org: string, sessionId: string) {
    const token = await g.userTokenFor(org, `dev@${org}`, ["developer"]);
    const ws = new WebSocket(`${g.url.replace(/^http/, "ws")}/ws/${sessionId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    sockets.push(ws);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
  }

  async function subscribe(who: Caller, org: string, path: string, events: string[]) {
    const { port } = receiver.address() as AddressInfo;
    const res = await fetch(`${g.url}/api/v1/orgs/${org}/webhooks`, {
      method: "POST",
      headers: { authorization: `Bearer ${who.operatorToken}`, "content-type": "application/json" },
      body: JSON.stringify({ url: `http://127.0.0.1:${port}${path}`, events }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
  }

  beforeAll(async () => {
    receiver = createServer((req, res) => req.resume().on("end", () => res.writeHead(204).end()));
    await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
    opened = await backend.open();
    g = await startTestGatehouse({ env: { ...opened.env, GATEHOUSE_WEBHOOK_PRIVATE_HOSTS: "127.0.0.1" } });
    mine = { url: g.url, operatorToken: g.operatorToken };
    theirs = { url: g.url, operatorToken: await g.userTokenFor(OTHER_ORG) };
    // Webhooks first, so that every escalation below is delivered to the first one.
    await subscribe(mine, g.orgId, "/created", ["approval.created"]);
    for (const n of [1, 2]) await subscribe(mine, g.orgId, `/expired-${n}`, ["approval.expired"]);
    await subscribe(theirs, OTHER_ORG, "/theirs-created", ["approval.created"]);
    await subscribe(theirs, OTHER_ORG, "/theirs-expired", ["approval.expired"]);
    for (const bot of BOTS) await registerManifest(mine, escalatingPaymentManifest(bot));
    for (let i = 0; i < ESCALATIONS; i++) {
      const reply = await agent(mine).post(
        "/api/v1/gateway/execute",
        executeBody(BOTS[0]!, { type: "payment", tool: "send", params: { n: i } }),
      );
      expect(reply.body).toMatchObject({ decision: "ESCALATE" });
    }
    for (const bot of BOTS) {
      const token = await operator(mine).post("/capability-tokens", {
        agent_id: bot,
        uapk_id: bot,
        capabilities: ["payment:send"],
      });
      expect(token.status, token.text).toBe(201);
    }
    for (const n of [1, 2, 3]) await ideSession(g.orgId, `cursor-mine-${n}`);
    for (const n of [1, 2]) await ideSession(OTHER_ORG, `cursor-theirs-${n}`);
    // Deliveries are asynchronous: wait until the log holds one per escalation.
    // The other org's approvals (stored through its approvals service, as an escalation does): their deliveries.
    for (let i = 0; i < 2; i++) {
      await g.approvals.create({
        org_id: OTHER_ORG,
        uapk_id: "their-bot",
        agent_id: "their-bot",
        action: { type: "payment", tool: "send", params: { n: i } },
        reasons: [{ code: "REQUIRES_APPROVAL", message: "needs a human" }],
      });
    }
    for (let waited = 0; ; waited += 50) {
      const delivered = async (who: Caller, org: string) =>
        (await page(who, "/webhooks/deliveries?status=delivered", org)).items.length;
      if ((await delivered(mine, g.orgId)) === ESCALATIONS && (await delivered(theirs, OTHER_ORG)) === 2) break;
      if (waited > 10_000) throw new Error("the escalations' deliveries did not arrive within 10 s");
      await new Promise((ok) => setTimeout(ok, 50));
    }
  }, 90_000);

  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    await g?.dispose();
    await opened?.dispose();
    receiver?.close();
  });

  it.each(NEW_LISTS)("%s: following next_cursor with limit=1 yields the whole list, each item once", async (list) => {
    const { path, id } = LISTS[list];
    const whole = ((await page(mine, path)).items as Json[]).map((item) => String(item[id]));
    expect(whole.length).toBeGreaterThanOrEqual(3);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 20; i++) {
      const query = `limit=1${cursor === undefined ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
      const body = await page(mine, withQuery(path, query));
      expect(body.items.length).toBeLessThanOrEqual(1);
      seen.push(...(body.items as Json[]).map((item) => String(item[id])));
      cursor = body.next_cursor;
      if (cursor === undefined) break;
    }
    expect(cursor).toBeUndefined();
    expect(seen).toEqual(whole);
  });

  it("a cursor of one list is refused by every other list (400, never a page of something else)", async () => {
    const cursors = Object.fromEntries(
      await Promise.all((Object.keys(LISTS) as ListName[]).map(async (l) => [l, await cursorOf(l)] as const)),
    ) as Record<ListName, string>;
    for (const from of Object.keys(LISTS) as ListName[]) {
      for (const to of Object.keys(LISTS) as ListName[]) {
        if (from === to) continue;
        await expectRefused(
          withQuery(LISTS[to].path, `cursor=${encodeURIComponent(cursors[from])}`),
          `${from} → ${to}`,
        );
      }
    }
  });

  it.each(["sessions", "webhooks", "deliveries"] as const)(
    "%s: another org's cursor positions within the caller's own list at most (never their items)",
    async (list) => {
      const { path, id } = LISTS[list];
      const theirIds = ((await page(theirs, path, OTHER_ORG)).items as Json[]).map((item) => String(item[id]));
      expect(theirIds.length).toBeGreaterThanOrEqual(2);
      const ownIds = ((await page(mine, path)).items as Json[]).map((item) => String(item[id]));
      const foreign = await cursorOf(list, theirs, OTHER_ORG);
      const res = await get(mine, withQuery(path, `cursor=${encodeURIComponent(foreign)}`));
      expect(res.status, res.text).toBeLessThan(500);
      if (res.status === 200) {
        const items = (JSON.parse(res.text) as Json).items as Json[];
        for (const item of items) {
          expect(ownIds).toContain(String(item[id]));
          expect(theirIds).not.toContain(String(item[id]));
          if (list === "webhooks") expect(item.org_id).toBe(g.orgId);
        }
      } else {
        expect(res.status).toBe(400);
      }
    },
  );

  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const TAMPERED: Record<string, string> = {
    "not base64 JSON": "%%%not-a-cursor",
    "a JSON number": b64(42),
    "a JSON array": b64(["2024-01-01T00:00:00.000Z", "x"]),
    null: b64(null),
    "a time that is not a time": b64({
      created_at: "yesterday",
      webhook_id: "whk-1",
      session_id: "s",
      delivery_id: "d",
    }),
    "an impossible date": b64({ created_at: "2024-13-45T99:99:99.999Z", webhook_id: "whk-1" }),
    "SQL in the id": b64({ created_at: "2024-01-01T00:00:00.000Z", delivery_id: "x' OR '1'='1" }),
    "a NUL byte in the id": b64({ created_at: "2024-01-01T00:00:00.000Z", delivery_id: "whd-\u0000" }),
    "an extra key": b64({ created_at: "2024-01-01T00:00:00.000Z", webhook_id: "whk-1", org_id: OTHER_ORG }),
    __proto__: '{"__proto__":{"created_at":"2024-01-01T00:00:00.000Z"}}',
    "an id over 256 characters": b64({ created_at: "2024-01-01T00:00:00.000Z", session_id: "s".repeat(300) }),
    "a huge cursor (64 KiB)": "A".repeat(64 * 1024),
  };

  it.each(NEW_LISTS)("%s: a tampered or huge cursor is a 400 problem", async (list) => {
    for (const [why, cursor] of Object.entries(TAMPERED)) {
      const res = await get(mine, withQuery(LISTS[list].path, `cursor=${encodeURIComponent(cursor)}`));
      // A 64 KiB query may be refused before routing (431/414): a client error either way, never a 5xx.
      if (why.startsWith("a huge cursor") && res.status !== 400) {
        expect(res.status, res.text).toBeGreaterThanOrEqual(400);
        expect(res.status, res.text).toBeLessThan(500);
        continue;
      }
      expect(res.status, `${why}: ${res.text.slice(0, 300)}`).toBe(400);
      expect(res.contentType).toContain("application/problem+json");
    }
  });

  it("approvals: a tampered cursor is a 400 problem like the other lists', never a page", async () => {
    const position = { created_at: "2024-01-01T00:00:00.000Z", approval_id: "appr-1" };
    const tampered = {
      "a time that is not a time": b64({ ...position, created_at: "yesterday" }),
      "an impossible date": b64({ ...position, created_at: "2024-13-45T99:99:99.999Z" }),
      "an extra key": b64({ ...position, org_id: OTHER_ORG }),
      "a NUL byte in the id": b64({ ...position, approval_id: "appr-\u0000" }),
    };
    for (const [why, cursor] of Object.entries(tampered)) {
      const res = await get(mine, withQuery(LISTS.approvals.path, `cursor=${encodeURIComponent(cursor)}`));
      expect(res.status, `${why}: ${res.text.slice(0, 300)}`).toBe(400);
      expect(res.contentType).toContain("application/problem+json");
    }
  });

  it.each(NEW_LISTS)(
    "%s: a page size outside 1–500 (0, negative, 1e309, 1.5, 501, text, empty) is a 400",
    async (list) => {
      for (const limit of ["0", "-1", "1e309", "1.5", "501", "abc", "", "NaN", "Infinity", "99999999999999999999"]) {
        await expectRefused(withQuery(LISTS[list].path, `limit=${encodeURIComponent(limit)}`), `limit=${limit}`);
      }
    },
  );
});
