// The operator console in a real browser (Debian's chromium driven by playwright-core) against a real
// Gatehouse: sign-in, the live approvals feed, Approve and Deny as the agent sees them, the audit chain's
// verification, and the other views. Screenshots of each view go to .tmp/console-screenshots/.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestGatehouse, type TestGatehouse } from "../../test-support/gatehouse";
import { agent, executeBody, operator, type Receiver, registerManifest, startReceiver } from "../../test-support/http";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = resolve(import.meta.dirname, "../../../.tmp/console-screenshots");
const UAPK = "payments-bot";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === "true") {
  throw new Error(
    `The console's browser tests need chromium at ${CHROMIUM} (apt-get install -y chromium); CI must have it.`,
  );
}
if (!haveChromium)
  console.warn(
    `Skipping the console's browser tests: chromium is not installed at ${CHROMIUM} (apt-get install -y chromium).`,
  );

let g: TestGatehouse;
let receiver: Receiver;
let context: BrowserContext;
let page: Page;
let profileDir: string;

const pay = (invoice: string, extra: Record<string, unknown> = {}) =>
  executeBody(
    UAPK,
    {
      type: "payment",
      tool: "send",
      params: { invoice, to: "billing@acme.example" },
      counterparty: "acme@vendor.example",
      amount: 120,
      currency: "EUR",
    },
    extra,
  );

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function signIn(token: string): Promise<void> {
  await page.goto(`${g.url}/console`);
  await page.getByLabel("Operator token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function escalate(invoice: string): Promise<string> {
  const reply = await agent(g).post("/api/v1/gateway/execute", pay(invoice));
  expect(reply.body).toMatchObject({ decision: "ESCALATE", executed: false });
  return reply.body.approval_id as string;
}

/** The console's page size (console/src/views/common.tsx PAGE_SIZE): a list longer than this needs "Load more". */
const CONSOLE_PAGE = 50;

/** Clicks `more` until `rows` holds `total` items; then the button must be gone (the last page has no cursor). */
async function loadAll(more: Locator, rows: Locator, total: number): Promise<number> {
  let clicks = 0;
  for (let shown = await rows.count(); shown < total; shown = await rows.count()) {
    await more.click();
    clicks++;
    await expect.poll(() => rows.count()).toBeGreaterThan(shown);
  }
  expect(await rows.count()).toBe(total);
  expect(await more.count()).toBe(0);
  return clicks;
}

const approvalCard = (approvalId: string) => page.getByRole("article", { name: new RegExp(`Approval ${approvalId}`) });

describe.skipIf(!haveChromium)("operator console in a browser", () => {
  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    receiver = await startReceiver();
    // The default org's approval notifications go to the receiver as Slack messages (their links are tested).
    g = await startTestGatehouse({
      env: {
        GATEHOUSE_WEBHOOK_URL: `${receiver.url}/slack`,
        GATEHOUSE_WEBHOOK_SECRET: "console-test-secret-0123456789abcdef",
        GATEHOUSE_WEBHOOK_FORMAT: "slack",
        GATEHOUSE_WEBHOOK_PRIVATE_HOSTS: "127.0.0.1",
        // The Sessions paging test connects more IDEs than one page of the console (from this one address).
        GATEHOUSE_WS_CONNECTIONS_PER_IP_PER_MINUTE: "1000",
        // The Notifications paging test subscribes more webhooks than one page of the console (50; default limit 20).
        GATEHOUSE_WEBHOOKS_PER_ORG: "100",
        // An MCP tool call that escalates answers `pending` at once (the card test asks as a person over MCP).
        GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS: "0",
      },
    });
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Payments Bot" },
      capabilities: ["payment:send"],
      constraints: { max_actions_per_hour: 50, require_human_approval: ["payment:send"] },
      tools: {
        "payment:send": {
          connector: {
            type: "webhook",
            url: `${receiver.url}/payments/{invoice}`,
            allowed_hosts: ["127.0.0.1"],
            allow_private: true,
          },
        },
      },
    });
    profileDir = mkdtempSync(join(tmpdir(), "gatehouse-console-chromium-"));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await g?.dispose();
    await receiver?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it("is served with a strict Content-Security-Policy and no inline script", async () => {
    const response = await fetch(`${g.url}/console`);
    expect(response.status).toBe(200);
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect((await fetch(`${g.url}/console/app.js`)).headers.get("content-type")).toContain("javascript");
    expect((await fetch(`${g.url}/console/../package.json`)).status).not.toBe(200);
  });

  it("loads without a single failed request or error in the browser's console", async () => {
    const problems: string[] = [];
    const onConsole = (m: { type(): string; text(): string }) => {
      if (m.type() === "error") problems.push(m.text());
    };
    const onFailed = (r: { url(): string }) => problems.push(`failed: ${r.url()}`);
    const onResponse = (r: { status(): number; url(): string }) => {
      if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`);
    };
    page.on("console", onConsole);
    page.on("requestfailed", onFailed);
    page.on("response", onResponse);
    try {
      await page.goto(`${g.url}/console`);
      await page.waitForLoadState("networkidle");
    } finally {
      page.off("console", onConsole);
      page.off("requestfailed", onFailed);
      page.off("response", onResponse);
    }
    expect(problems).toEqual([]);
  });

  it("refuses a developer (IDE) token with a clear message", async () => {
    const developer = await g.userTokenFor(g.orgId, "dev@contract", ["developer"]);
    await signIn(developer);
    const alert = page.getByRole("alert");
    await expect.poll(() => alert.textContent()).toContain("This token cannot operate the console");
    expect(await alert.textContent()).toContain("operator");
    await shot("sign-in-refused");
  });

  it("signs in with an operator token; an ESCALATE appears without reload; Approve → the agent's long-poll says approved and the re-submit runs once", async () => {
    await signIn(g.operatorToken);
    await page.getByText("Live: new approvals appear here").waitFor();
    const approvalId = await escalate("inv-approve");
    const card = approvalCard(approvalId);
    await card.waitFor();
    expect(await card.textContent()).toContain("acme@vendor.example");
    expect(await card.textContent()).toContain("120 EUR");
    expect(await card.textContent()).toContain("REQUIRES_APPROVAL");
    // The risk snapshot taken when the approval was created.
    const risk = card.getByRole("list", { name: "Risk snapshot" });
    expect(await risk.textContent()).toContain("Amount: 120 EUR");
    expect(await risk.textContent()).toMatch(/Budget used: \d+\/50 this hour/);
    await shot("approvals-pending");

    const poll = agent(g).get(`/api/v1/gateway/approvals/${approvalId}?wait=20`);
    await card.getByLabel("Reason (optional)").fill("invoice checked");
    await card.getByRole("button", { name: "Approve" }).click();
    expect((await poll).body).toMatchObject({ approval_id: approvalId, status: "approved" });
    await expect.poll(() => card.textContent()).toContain("by operator@contract");
    expect(await card.textContent()).toContain("invoice checked");

    const run = await agent(g).post("/api/v1/gateway/execute", pay("inv-approve", { approval_id: approvalId }));
    expect(run.body).toMatchObject({ decision: "ALLOW", executed: true });
    expect(receiver.count("/payments/inv-approve")).toBe(1);
    // The consumption reaches the console through the feed too.
    await expect.poll(() => card.textContent()).toContain("consumed");
    await shot("approvals-decided");
  });

  it("Deny: the agent's long-poll says denied and nothing runs", async () => {
    const approvalId = await escalate("inv-deny");
    const card = approvalCard(approvalId);
    await card.waitFor();
    const poll = agent(g).get(`/api/v1/gateway/approvals/${approvalId}?wait=20`);
    await card.getByLabel("Reason (optional)").fill("unknown vendor");
    await card.getByRole("button", { name: "Deny" }).click();
    // The agent hears the outcome; the operator's note stays the operators' (the agent's view has no reason).
    const answer = (await poll).body;
    expect(answer).toMatchObject({ approval_id: approvalId, status: "denied" });
    expect(JSON.stringify(answer)).not.toContain("unknown vendor");
    await expect.poll(() => card.textContent()).toContain("unknown vendor");
    expect(await card.getByRole("button", { name: "Approve" }).count()).toBe(0);
    const retry = await agent(g).post("/api/v1/gateway/execute", pay("inv-deny", { approval_id: approvalId }));
    expect(retry.body.executed).toBe(false);
    expect(receiver.count("/payments/inv-deny")).toBe(0);
  });

  it("the card's headline shows what the connector receives (the risk picture), not what the agent declared", async () => {
    // Declared: 90 USD to ann@acme.com. Sent: three payments of 90 (270 USD) to boss@evil.com.
    await registerManifest(g, {
      uapk_id: "split-payer",
      agent: { id: "split-payer", name: "Split Payer" },
      capabilities: ["payment:send"],
      constraints: { max_actions_per_hour: 50 },
      policy: { amount_threshold: { amount: 100, currency: "USD" } },
      tools: {
        "payment:send": {
          connector: {
            type: "webhook",
            url: `${receiver.url}/split`,
            allowed_hosts: ["127.0.0.1"],
            allow_private: true,
          },
        },
      },
    });
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody("split-payer", {
        type: "payment",
        tool: "send",
        counterparty: "ann@acme.com",
        amount: 90,
        currency: "USD",
        params: { To: "boss@evil.com", amounts: [90, 90, 90], currency: "USD" },
      }),
    );
    expect(reply.body).toMatchObject({ decision: "ESCALATE", executed: false });
    await page.getByRole("tab", { name: "Approvals" }).click();
    const card = approvalCard(reply.body.approval_id as string);
    await card.waitFor();
    const headline = (term: string) => card.locator(`dl > dt:text-is("${term}") + dd`).textContent();
    expect(await headline("Amount")).toBe("270 USD");
    expect(await headline("Recipients")).toContain("boss@evil.com");
    await shot("approval-risk-headline");
  });

  it("a risk picture the policy could not complete is flagged above the headline", async () => {
    // A statement descriptor of more `*` pieces than any card statement shows is left unread: the names the card
    // shows may be missing some. (More values than the walk reads is refused at the boundary: 400.)
    const descriptor = Array.from({ length: 20 }, (_, i) => `PIECE${i}`).join("*");
    const reply = await agent(g).post("/api/v1/gateway/execute", pay("inv-incomplete"));
    expect(reply.body.decision).toBe("ESCALATE");
    const big = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, {
        type: "payment",
        tool: "send",
        params: { invoice: "inv-big", statement_descriptor: descriptor },
      }),
    );
    expect(big.body).toMatchObject({ decision: "ESCALATE", executed: false });
    await page.getByRole("tab", { name: "Approvals" }).click();
    const warning = approvalCard(big.body.approval_id as string).getByRole("note", { name: "Incomplete risk picture" });
    await warning.waitFor();
    expect(await warning.textContent()).toContain(
      'could not be read completely (params.statement_descriptor has more than 16 "*"-separated pieces)',
    );
    // An approval read completely carries no such line.
    const complete = approvalCard(reply.body.approval_id as string);
    await complete.waitFor();
    expect(await complete.getByRole("note", { name: "Incomplete risk picture" }).count()).toBe(0);
  });

  it("an agent's invisible characters and endless strings cannot make a card or the audit log read as something else", async () => {
    // Format characters (bidi, zero-width) are what would reorder or hide text.
    const invisible = /\p{Cf}/u;
    const endless = `${"b".repeat(3000)}@x.example`;
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, {
        type: "payment",
        tool: "send",
        params: {
          invoice: "inv-bidi",
          to: [
            "ok@corp.example",
            "(x) \u202emoc.live@bob",
            "mallory\u200b@x.example",
            "ok\u3164@corp.example",
            endless,
          ],
        },
      }),
    );
    expect(reply.body).toMatchObject({ decision: "ESCALATE", executed: false });
    // An agent id written backwards with a bidi override, as if it were another agent's row in the audit log: ids
    // hold no bidi control (the spec's id rule), so it is refused before anything is judged or audited.
    const spoof = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "payment", tool: "send" }, { agent_id: "\u202etob-stnemyap" }),
    );
    expect(spoof.status).toBe(400);
    expect(spoof.body).toMatchObject({ code: "VALIDATION_FAILED" });

    await page.getByRole("tab", { name: "Approvals" }).click();
    const card = approvalCard(reply.body.approval_id as string);
    await card.waitFor();
    const recipients = await card.locator(`dl > dt:text-is("Recipients") + dd`).textContent();
    expect(recipients).toContain("x \\u{202e}moc.live@bob");
    expect(recipients).toContain("mallory\\u{200b}@x.example");
    expect(await card.textContent()).not.toMatch(invisible);
    // A blank filler letter (U+3164) shows nothing either: escaped too, and the recipient marked as refused.
    expect(recipients).toContain("ok\\u3164@corp.example (refused:");
    // The endless address wraps: the page is no wider than the window, so its domain is on screen.
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(1280);

    await page.getByRole("tab", { name: "Interactions" }).click();
    const log = page.getByRole("table", { name: "Audit log" });
    await expect.poll(async () => (await log.textContent()) ?? "").toContain(UAPK);
    expect(await log.textContent()).not.toMatch(invisible);
    expect(await log.textContent()).not.toContain("tob-stnemyap");
    await shot("hostile-text");
  });

  it("the card shows the params that would run and the person who asked; a hostile param is inert, clipped text", async () => {
    // A person (dana) asks over MCP, as an IDE user does in an agent session: the approval records them.
    await registerManifest(g, {
      uapk_id: "ops-mcp",
      agent: { id: "ops-mcp", name: "Ops MCP" },
      capabilities: ["crm:delete", "ide:run_command"],
      constraints: { max_actions_per_hour: 100, require_human_approval: ["crm:delete", "ide:run_command"] },
      tools: { "crm:delete": { connector: { type: "echo" } }, "ide:run_command": { connector: { type: "echo" } } },
    });
    const dana = new Client({ name: "console-card-e2e", version: "1.0.0" });
    const token = await g.userTokenFor(g.orgId, "dana@acme.example", ["operator"]);
    await dana.connect(
      new StreamableHTTPClientTransport(new URL(`${g.url}/mcp/agents/ops-mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    const ask = async (name: string, params: Record<string, unknown>) => {
      const reply = await dana.callTool({ name, arguments: { params } });
      const approvalId = (reply.structuredContent as { approval_id?: string }).approval_id;
      expect(approvalId, JSON.stringify(reply.structuredContent).slice(0, 500)).toBeTruthy();
      return approvalId!;
    };
    const row = (card: Locator, term: string) => card.locator(`dl > dt:text-is("${term}") + dd`);
    try {
      await page.getByRole("tab", { name: "Approvals" }).click();
      const del = approvalCard(await ask("crm_delete", { record_id: "rec-4711" }));
      await del.waitFor();
      expect(await row(del, "Requested by").textContent()).toBe("dana@acme.example (MCP session)");
      expect(await del.getByLabel("Params", { exact: true }).textContent()).toBe('{\n  "record_id": "rec-4711"\n}');
      expect(await del.getByRole("note", { name: "Params clipped" }).count()).toBe(0);
      // An approval asked with the agent's API key names no person.
      const rest = approvalCard(await escalate("inv-no-person"));
      await rest.waitFor();
      expect(await row(rest, "Requested by").textContent()).toBe("no person (the agent's own request)");

      // Nine members of 7,000 characters: the gateway stores them whole (under its 64 KB bound), the card clips.
      const filler = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`z${i}`, "A".repeat(7000)]));
      const hostile = {
        command: "rm -rf ~",
        html: '<img src=x onerror="window.__pwned=1"><b>bold</b>',
        fence: "``` end",
        rtl: "\u202eexe.txt",
        ...filler,
      };
      const runId = await ask("ide_run_command", hostile);
      const run = approvalCard(runId);
      await run.waitFor();
      const params = run.getByLabel("Params", { exact: true });
      const text = (await params.textContent()) ?? "";
      expect(text).toContain('"command": "rm -rf ~"');
      // HTML is text: no element of it exists and no handler of it ran.
      expect(text).toContain('"html": "<img src=x onerror=\\"window.__pwned=1\\"><b>bold</b>"');
      expect(await run.locator("img").count()).toBe(0);
      expect(await params.locator("*").count()).toBe(0);
      // (The page's own window: this file is typed without the DOM library, hence the string.)
      expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");
      expect(text).toContain('"fence": "``` end"');
      // The right-to-left override is shown as its escape, never applied.
      expect(text).toContain('"rtl": "\\u202eexe.txt"');
      expect(text).not.toContain("\u202e");
      // The first 4,000 characters, the rest counted in a visible note; the block scrolls within a bounded height.
      // (plus 5 for each escaped character: `\u202e` stands for one).
      expect(text.length).toBeLessThanOrEqual(4100);
      expect(await run.getByRole("note", { name: "Params clipped" }).textContent()).toMatch(
        /^… 5\d,\d{3} more characters/,
      );
      expect((await params.boundingBox())?.height ?? Infinity).toBeLessThan(500);
      expect(await row(run, "Requested by").textContent()).toBe("dana@acme.example (MCP session)");
      await run.scrollIntoViewIfNeeded();
      await shot("approval-params");

      // Whatever the API sends (here 1 MB in one param, more than the gateway stores), the card shows 4,000
      // characters and counts the rest, and the page keeps answering.
      // The approval as read on its own and in the list (whichever answer the console takes last: the list, read
      // when the live feed connects, may arrive after the single read).
      const single = new RegExp(`/api/v1/orgs/[^/]+/approvals(/${runId})?(\\?.*)?$`);
      await page.route(single, async (route) => {
        const response = await route.fetch();
        const body = await response.json();
        for (const approval of body.items ?? [body])
          if (approval.approval_id === runId)
            approval.action.params = { big: `\u202e${"B".repeat(1_000_000)}`, ...approval.action.params };
        await route.fulfill({ response, json: body });
      });
      await page.getByRole("tab", { name: "Manifests" }).click();
      await page.goto(`${g.url}/console#/approvals/${runId}`);
      // A megabyte to fetch, parse and clip: more than expect.poll's default second on a loaded machine.
      await expect
        .poll(() => run.getByLabel("Params", { exact: true }).textContent(), { timeout: 10_000 })
        .toContain('"big": "\\u202eBBB');
      expect(((await params.textContent()) ?? "").length).toBeLessThanOrEqual(4100);
      expect(await run.getByRole("note", { name: "Params clipped" }).textContent()).toMatch(
        /^… 1,0\d\d,\d{3} more characters/,
      );
      const started = Date.now();
      await page.evaluate("document.title");
      expect(Date.now() - started).toBeLessThan(1000);
      await page.unroute(single);
    } finally {
      await dana.close();
    }
  });
  it("the link of a Slack notification opens the console at that approval", async () => {
    const approvalId = await escalate("inv-link");
    const notification = () => receiver.received.find((r) => r.path === "/slack" && r.body.includes(approvalId));
    await expect.poll(notification).toBeDefined();
    const message = JSON.parse(notification()?.body ?? "{}");
    const button = message.blocks.find((b: { type: string }) => b.type === "actions").elements[0];
    expect(button.url).toBe(`${g.url}/console#/approvals/${approvalId}`);
    // Elsewhere in the console first, then the link (the tab keeps its sign-in).
    await page.getByRole("tab", { name: "Manifests" }).click();
    await page.goto(button.url);
    const card = approvalCard(approvalId);
    await card.waitFor();
    expect(await card.getAttribute("aria-current")).toBe("true");
    await expect.poll(() => card.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    expect(await page.getByRole("tab", { name: "Approvals" }).getAttribute("aria-selected")).toBe("true");
    await shot("approval-from-link");
  });

  it("a list read answered after a decision never shows that approval pending again", async () => {
    const approvalId = await escalate("inv-late-list");
    // The list the console reads when its feed connects is read at once (the approval still pending) but answered
    // only after the approval was decided and the feed had shown it decided.
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let listRead = false;
    const list = /\/api\/v1\/orgs\/[^/]+\/approvals\?/;
    await page.route(list, async (route) => {
      const response = await route.fetch();
      listRead = true;
      await held;
      await route.fulfill({ response });
    });
    try {
      await page.getByRole("tab", { name: "Manifests" }).click();
      await page.getByRole("tab", { name: "Approvals" }).click();
      await expect.poll(() => listRead).toBe(true);
      const decided = await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "checked" });
      expect(decided.status).toBe(200);
      const card = approvalCard(approvalId);
      await expect.poll(() => card.textContent(), { timeout: 5000 }).toContain("checked");
      release();
      // The stale list is shown (the other approvals of this run appear beside the decided one)…
      await expect.poll(() => page.getByRole("article").count()).toBeGreaterThan(3);
      // …and the decided approval stays decided: no Approve button comes back.
      expect(await card.textContent()).toContain("checked");
      expect(await card.getByRole("button", { name: "Approve" }).count()).toBe(0);
    } finally {
      release();
      await page.unroute(list);
    }
  });

  it("Interactions: filters, a record's policy trace, and Verify chain", async () => {
    await page.getByRole("tab", { name: "Interactions" }).click();
    const log = page.getByRole("table", { name: "Audit log" });
    await log.getByRole("row").nth(1).waitFor();
    await page.getByLabel("Decision").selectOption("ESCALATE");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect
      .poll(async () =>
        (await log.locator("tbody tr td:nth-child(6)").allTextContents()).every((d) => d === "ESCALATE"),
      )
      .toBe(true);
    await log
      .getByRole("button", { name: /Details of record/ })
      .first()
      .click();
    const trace = page.getByRole("table", { name: "Policy trace" });
    await trace.waitFor();
    expect(await trace.textContent()).toContain("approval_check");

    // The reason-code filter is applied by the server.
    await page.getByLabel("Decision").selectOption("");
    await page.getByLabel("Reason code").fill("requires_approval");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect
      .poll(async () =>
        (await log.locator("tbody tr td:nth-child(7)").allTextContents()).every((r) => r.includes("REQUIRES_APPROVAL")),
      )
      .toBe(true);

    await page.getByRole("button", { name: "Verify chain" }).click();
    const verdict = page.getByRole("status", { name: "Chain verification" });
    await expect.poll(() => verdict.textContent()).toMatch(/Chain valid: \d+ records/);
    await shot("interactions");
  });

  it("Manifests: suspend and activate", async () => {
    await page.getByRole("tab", { name: "Manifests" }).click();
    const table = page.getByRole("table", { name: "Manifests" });
    await page.getByRole("button", { name: `Suspend ${UAPK}` }).click();
    await page.getByRole("button", { name: `Activate ${UAPK}` }).waitFor();
    expect(await table.textContent()).toContain("suspended");
    await page.getByRole("button", { name: `Activate ${UAPK}` }).click();
    await page.getByRole("button", { name: `Suspend ${UAPK}` }).waitFor();
    await page.getByRole("button", { name: `View ${UAPK}` }).click();
    await shot("manifests");
  });

  it("Capability tokens: issue and revoke", async () => {
    await page.getByRole("tab", { name: "Capability tokens" }).click();
    await page.getByLabel("Manifest (uapk_id)").fill(UAPK);
    await page.getByLabel("Capabilities (comma separated)").fill("payment:send");
    await page.getByLabel("Max actions").fill("3");
    await page.getByRole("button", { name: "Issue token" }).click();
    const issued = page.getByLabel("Issued token (shown once)");
    await issued.waitFor();
    expect((await issued.inputValue()).split(".")).toHaveLength(3);
    const revoke = page.getByRole("button", { name: /^Revoke / });
    await revoke.first().click();
    await expect.poll(() => page.getByRole("table", { name: "Capability tokens" }).textContent()).toContain("revoked");
    expect(await page.getByRole("button", { name: /^Revoke / }).count()).toBe(0);
    await shot("capability-tokens");

    // The audit log names what was done with the token where other records name their action (a token's records
    // have no action: the column read ":"), and shows no decision for them.
    await page.getByRole("tab", { name: "Interactions" }).click();
    await page.getByLabel("Decision").selectOption("");
    await page.getByLabel("Reason code").fill("");
    await page.getByRole("button", { name: "Apply filters" }).click();
    const log = page.getByRole("table", { name: "Audit log" });
    const rowOf = (kind: string) =>
      log.locator("tbody tr").filter({ has: page.getByRole("cell", { name: kind, exact: true }) });
    await rowOf("token_revoked").first().waitFor();
    const cells = async (kind: string) => (await rowOf(kind).first().locator("td").allTextContents()).slice(2, 6);
    expect(await cells("token_issued")).toEqual(["token_issued", UAPK, "capability token issued (payment:send)", "—"]);
    expect(await cells("token_revoked")).toEqual(["token_revoked", UAPK, "capability token revoked", "—"]);
  });

  it("Purutos: list and run an allowed command", async () => {
    await page.getByRole("tab", { name: "Purutos" }).click();
    await page.getByRole("textbox", { name: "API key" }).fill(g.apiKey);
    await page.getByRole("button", { name: "List purutos" }).click();
    const run = page.getByRole("button", { name: "Run puruto-data status" });
    await run.waitFor();
    await run.click();
    const output = page.getByLabel("Output of puruto-data status");
    await expect.poll(() => output.textContent()).toContain('"status": "accepted"');
    await shot("purutos");
  });

  it("Sessions: the org's live IDE sessions, and no claim of 'none' before the list was read", async () => {
    // Hold the first read: until it answers, the table must not say that no IDE is connected.
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route("**/api/v1/orgs/*/sessions*", async (route) => {
      await held;
      await route.continue();
    });
    await page.getByRole("tab", { name: "Sessions" }).click();
    const table = page.getByRole("table", { name: "Live sessions" });
    await table.waitFor();
    expect(await table.textContent()).toContain("Not loaded yet.");
    expect(await table.textContent()).not.toContain("No IDE is connected.");
    release();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("0 live sessions on this node.");
    expect(await table.textContent()).toContain("No IDE is connected.");
    await page.unroute("**/api/v1/orgs/*/sessions*");
    await shot("sessions");
  });

  it("Notifications: the webhooks and the delivery log", async () => {
    await page.getByRole("tab", { name: "Notifications" }).click();
    const webhooks = page.getByRole("table", { name: "Webhooks" });
    await expect.poll(() => webhooks.textContent()).toContain(`${receiver.url}/slack`);
    expect(await webhooks.textContent()).toContain("environment");
    const deliveries = page.getByRole("table", { name: "Deliveries" });
    await expect.poll(() => deliveries.textContent()).toContain("delivered");
    expect(await deliveries.textContent()).toContain("approval.created");
    await shot("notifications");
  });

  it("lists longer than one page are reached to their end with Load more (approvals, capability tokens)", async () => {
    // Made while another view is open, so none of them reaches the console through the live feed.
    await page.getByRole("tab", { name: "Notifications" }).click();
    await registerManifest(g, {
      uapk_id: "notes-bot",
      agent: { id: "notes-bot", name: "Notes Bot" },
      capabilities: ["note:write"],
      constraints: { max_actions_per_hour: 1000, require_human_approval: ["note:write"] },
      tools: { "note:write": { connector: { type: "noop" } } },
    });
    const escalated: string[] = [];
    for (let i = 0; i < CONSOLE_PAGE + 12; i++) {
      const reply = await agent(g).post(
        "/api/v1/gateway/execute",
        executeBody("notes-bot", { type: "note", tool: "write", params: { n: i } }),
      );
      expect(reply.body).toMatchObject({ decision: "ESCALATE" });
      escalated.push(reply.body.approval_id as string);
    }
    const approvals = (await operator(g).get("/approvals?limit=500")).body.items.length as number;
    expect(approvals).toBeGreaterThan(CONSOLE_PAGE);

    await page.getByRole("tab", { name: "Approvals" }).click();
    const cards = page.getByRole("article", { name: /^Approval / });
    await expect.poll(() => cards.count()).toBe(CONSOLE_PAGE);
    expect(await loadAll(page.getByRole("button", { name: "Load more approvals" }), cards, approvals)).toBe(1);
    // The oldest escalation (the last page's) is there, and still decidable.
    const oldest = approvalCard(escalated[0]!);
    expect(await oldest.getByRole("button", { name: "Approve" }).count()).toBe(1);
    await shot("approvals-all-pages");

    for (let i = 0; i < CONSOLE_PAGE + 5; i++) {
      const reply = await operator(g).post("/capability-tokens", {
        uapk_id: UAPK,
        agent_id: UAPK,
        capabilities: ["payment:send"],
      });
      expect(reply.status).toBe(201);
    }
    const tokens = (await operator(g).get("/capability-tokens?include_inactive=true&limit=500")).body.items
      .length as number;
    await page.getByRole("tab", { name: "Capability tokens" }).click();
    const rows = page.getByRole("table", { name: "Capability tokens" }).locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(CONSOLE_PAGE);
    expect(await loadAll(page.getByRole("button", { name: "Load more tokens" }), rows, tokens)).toBe(1);
  });

  it("Notifications: more deliveries and webhooks than one page are reached to their end with Load more", async () => {
    // Every escalation above was announced to the environment's webhook: the log holds more than a page. Deliveries
    // are asynchronous, so the count is read once it stops growing.
    let deliveries = 0;
    for (let previous = -1; deliveries !== previous; await new Promise((ok) => setTimeout(ok, 300))) {
      previous = deliveries;
      deliveries = (await operator(g).get("/webhooks/deliveries?limit=500")).body.items.length as number;
    }
    expect(deliveries).toBeGreaterThan(CONSOLE_PAGE);
    // Subscriptions to expiries only (none happens here), so the log above does not move.
    for (let i = 0; i < CONSOLE_PAGE + 3; i++) {
      const hook = await operator(g).post("/webhooks", {
        url: `${receiver.url}/hook-${i}`,
        events: ["approval.expired"],
      });
      expect(hook.status, hook.text).toBe(201);
    }
    const webhooks = (await operator(g).get("/webhooks?limit=500")).body.items.length as number;
    expect(webhooks).toBeGreaterThan(CONSOLE_PAGE);

    await page.getByRole("tab", { name: "Approvals" }).click();
    await page.getByRole("tab", { name: "Notifications" }).click();
    const logRows = page.getByRole("table", { name: "Deliveries" }).locator("tbody tr");
    await expect.poll(() => logRows.count()).toBe(CONSOLE_PAGE);
    expect(await loadAll(page.getByRole("button", { name: "Load more deliveries" }), logRows, deliveries)).toBe(1);
    const hookRows = page.getByRole("table", { name: "Webhooks" }).locator("tbody tr");
    await expect.poll(() => hookRows.count()).toBe(CONSOLE_PAGE);
    expect(await loadAll(page.getByRole("button", { name: "Load more webhooks" }), hookRows, webhooks)).toBe(1);
    // The last page holds the newest subscription (oldest first), removable like any other.
    const newest = `${receiver.url}/hook-${CONSOLE_PAGE + 2}`;
    expect(await page.getByRole("button", { name: `Remove ${newest}` }).count()).toBe(1);
    await shot("notifications-all-pages");
  });

  it("Sessions: more live sessions than one page are reached with Load more, and the auto-refresh keeps them", async () => {
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < CONSOLE_PAGE + 2; i++) {
        // One developer each: a user has at most GATEHOUSE_WS_MAX_SESSIONS_PER_USER (16) live sessions.
        const developer = await g.userTokenFor(g.orgId, `dev-${i}@console`, ["developer"]);
        const ws = new WebSocket(`${g.url.replace(/^http/, "ws")}/ws/console-session-${i}`, {
          headers: { authorization: `Bearer ${developer}` },
        });
        sockets.push(ws);
        await new Promise((resolve, reject) => {
          ws.once("open", resolve);
          ws.once("error", reject);
        });
      }
      await page.getByRole("tab", { name: "Approvals" }).click();
      await page.getByRole("tab", { name: "Sessions" }).click();
      const rows = page.getByRole("table", { name: "Live sessions" }).locator("tbody tr");
      await expect.poll(() => rows.count()).toBe(CONSOLE_PAGE);
      expect(await page.getByRole("status").textContent()).toContain("more to load");
      expect(await loadAll(page.getByRole("button", { name: "Load more sessions" }), rows, CONSOLE_PAGE + 2)).toBe(1);
      // The view re-reads every 5 s; once more than the first page is shown it waits, so the rows stay.
      await new Promise((ok) => setTimeout(ok, 6000));
      expect(await rows.count()).toBe(CONSOLE_PAGE + 2);
      expect(await page.getByRole("status").textContent()).toContain("Auto-refresh paused");
      await shot("sessions-all-pages");
    } finally {
      for (const ws of sockets) ws.terminate();
    }
  });
});
