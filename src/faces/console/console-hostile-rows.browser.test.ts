// The console's Interactions view against records an agent shaped to disturb it: a record's JSON (the Record block
// of its detail) shows a bidi override or a zero-width space as its escape, as every other text of the console does,
// and one record with a 256-character agent_id or a 128-character type and tool does not squeeze every other row
// of the table (its cells are clipped, the full value in their title; #, time, kind, decision and the Details
// button stay on one line).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../test-support/gatehouse";
import { agent, executeBody, registerManifest } from "../../test-support/http";

const CHROMIUM = "/usr/bin/chromium";
const UAPK = "rows-bot";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === "true")
  throw new Error(`The console's browser tests need chromium at ${CHROMIUM} (apt-get install -y chromium).`);

let g: TestGatehouse;
let context: BrowserContext;
let page: Page;
let profileDir: string;

/** What the browser-side code reads of a computed style and a range (no DOM library in this TypeScript project). */
type CSSLike = { lineHeight: string; fontSize: string };
type RangeLike = { selectNodeContents(node: unknown): void; getClientRects(): Iterable<{ top: number }> };

const LONG_AGENT = `a${"g".repeat(254)}z`;
const LONG_TYPE = `t${"y".repeat(127)}`;
const LONG_TOOL = `o${"p".repeat(127)}`;

describe.skipIf(!haveChromium)("console Interactions view with hostile records", () => {
  beforeAll(async () => {
    g = await startTestGatehouse();
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Rows Bot" },
      capabilities: ["crm:read"],
      tools: { "crm:read": { connector: { type: "echo" } } },
    });
    const sent = [
      executeBody(UAPK, { type: "crm", tool: "read", params: { note: "x\u202eevil\u200by" } }),
      executeBody(UAPK, { type: "crm", tool: "read" }, { agent_id: LONG_AGENT }),
      executeBody(UAPK, { type: LONG_TYPE, tool: LONG_TOOL }),
    ];
    for (const body of sent) expect((await agent(g).post("/api/v1/gateway/execute", body)).status).toBe(200);
    profileDir = mkdtempSync(join(tmpdir(), "gatehouse-console-rows-"));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${g.url}/console`);
    await page.getByLabel("Operator token").fill(g.operatorToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("tab", { name: "Interactions" }).click();
    await page.getByRole("table", { name: "Audit log" }).getByRole("button", { name: "Details of record 4" }).waitFor();
  });

  afterAll(async () => {
    await context?.close();
    await g?.dispose();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it("a record's JSON shows the agent's bidi override and zero-width space as escapes", async () => {
    await page.getByRole("button", { name: "Details of record 1" }).click();
    const json = page.getByLabel("Record", { exact: true });
    await json.waitFor();
    const text = (await json.textContent()) ?? "";
    expect(text).toContain("x\\u202eevil\\u200by");
    expect(text).not.toMatch(/[\p{Cf}\p{Zl}\p{Zp}]/u);
    await page.getByRole("button", { name: "Close detail" }).click();
  });

  it("a 256-character agent_id or 128-character type and tool is clipped; the other cells stay on one line", async () => {
    const log = page.getByRole("table", { name: "Audit log" });
    const lineHeight = await log.getByRole("button", { name: "Details of record 1" }).evaluate((button) => {
      // (In the page: this project's TypeScript has no DOM library, so the window is reached from the element.)
      const style = (
        button.ownerDocument.defaultView as unknown as { getComputedStyle(e: unknown): CSSLike }
      ).getComputedStyle(button);
      return Number.parseFloat(style.lineHeight) || Number.parseFloat(style.fontSize) * 1.5;
    });
    // Records 1 and 2: the first action's intent and outcome; 3 and 4: the decisions on the long agent_id and action.
    for (const seq of [1, 2, 3, 4]) {
      const row = log
        .locator("tbody tr")
        .filter({ has: page.getByRole("button", { name: `Details of record ${seq}` }) });
      // Each of #, Time, Kind, Decision and Reasons is one line of text; the Details button one line high.
      for (const column of [1, 2, 3, 6, 7]) {
        const cell = row.locator(`td:nth-child(${column})`);
        const lines = await cell.evaluate((td) => {
          const range = (td.ownerDocument as unknown as { createRange(): RangeLike }).createRange();
          range.selectNodeContents(td);
          return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
        });
        expect(lines, `record ${seq}, column ${column}`).toBeLessThanOrEqual(1); // an ALLOW has no reasons: 0
      }
      const button = row.getByRole("button", { name: /Details of record/ });
      expect((await button.boundingBox())?.height ?? 0, `record ${seq}`).toBeLessThan(lineHeight * 2.2);
    }
    const longAgent = log.locator("tbody tr td:nth-child(4)", { hasText: "agggg" });
    expect(await longAgent.getAttribute("title")).toBe(LONG_AGENT);
    expect(((await longAgent.textContent()) ?? "").length).toBeLessThanOrEqual(65);
    const longAction = log.locator("tbody tr td:nth-child(5)", { hasText: "tyyyy" });
    expect(await longAction.getAttribute("title")).toBe(`${LONG_TYPE}:${LONG_TOOL}`);
    expect(((await longAction.textContent()) ?? "").length).toBeLessThanOrEqual(65);
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(1280);
  });
});
