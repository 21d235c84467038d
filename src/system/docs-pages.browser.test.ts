// The docs a person reads, in a real browser (Debian's chromium driven by playwright-core) against a real
// Gatehouse, with the network off: every request to another origin is aborted and recorded, and the test fails
// if the REST or the WebSocket page attempted even one (a CDN script, a font, telemetry). What must be on the
// pages once they ran: every operation of the OpenAPI document by its summary, every message of the AsyncAPI
// document by its title.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { startTestGatehouse, type TestGatehouse } from "../../contract-tests/fixtures";
import { DOCS_CSP } from "./docs-pages";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = resolve(import.meta.dirname, "../..");
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === "true") {
  throw new Error(
    `The docs' browser tests need chromium at ${CHROMIUM} (apt-get install -y chromium); CI must have it.`,
  );
}
if (!haveChromium) console.warn(`Skipping the docs' browser tests: chromium is not installed at ${CHROMIUM}.`);

type Json = Record<string, unknown>;
const openapi = JSON.parse(readFileSync(resolve(ROOT, "generated/openapi.json"), "utf8")) as {
  paths: Record<string, Record<string, { summary?: string; operationId?: string }>>;
  tags?: { name: string }[];
};
const asyncapi = parseYaml(readFileSync(resolve(ROOT, "spec/sessions.asyncapi.yaml"), "utf8")) as {
  components: { messages: Record<string, Json> };
};
const operationSummaries = Object.values(openapi.paths).flatMap((item) =>
  Object.values(item).flatMap((op) => (op.summary ? [op.summary] : [])),
);
const tags = (openapi.tags ?? []).map((t) => t.name);
const tagPattern = new RegExp(`^(${tags.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})$`);
const messageTitles = Object.values(asyncapi.components.messages).map((m) => String(m.title ?? m.name));

let g: TestGatehouse;
let browser: Browser;

/**
 * Opens a page of the running Gatehouse with every other origin blocked, then reads it as a person does: clicks
 * each `navigate` link of the sidebar in turn (Redoc shows a tag's operations, or an operation's messages, once
 * it is opened) and gathers the text shown after each click. Returns that text and what was blocked.
 */
async function readOffline(
  path: string,
  navigate: ((page: Page) => Locator)[],
): Promise<{ text: string; blocked: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const blocked: string[] = [];
  const errors: string[] = [];
  const origin = new URL(g.url).origin;
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    blocked.push(url);
    return route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  try {
    const response = await page.goto(`${g.url}${path}`, { waitUntil: "load" });
    expect(response?.status()).toBe(200);
    const seen: string[] = [];
    for (const find of navigate) {
      const links = find(page);
      const count = await links.count();
      expect(count, String(links)).toBeGreaterThan(0);
      // The sidebar re-renders as it opens: collect the targets first, then open each by its own link.
      const targets = [...new Set(await links.evaluateAll((as) => as.map((a) => a.getAttribute("href") ?? "")))];
      for (const target of targets) {
        await page.locator(`a[href="${target}"]`).first().click();
        const route = target.replace(/^#/, "").toLowerCase();
        await page
          .waitForFunction(`decodeURIComponent(location.hash).toLowerCase().includes(${JSON.stringify(route)})`, null, {
            timeout: 3000,
          })
          .catch(() => errors.push(`clicking ${target} did not open it (${page.url()})`));
        await page.waitForTimeout(300);
        // biome-ignore lint/performance/useDomNodeTextContent: what is shown to a person, not hidden prerendered text.
        seen.push(await page.innerText("body"));
      }
    }
    await page.waitForLoadState("networkidle");
    return { text: seen.join("\n"), blocked, errors };
  } finally {
    await context.close();
  }
}

describe.skipIf(!haveChromium)("the docs pages in a browser, offline", () => {
  beforeAll(async () => {
    [g, browser] = await Promise.all([
      startTestGatehouse(),
      chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] }),
    ]);
    // The first request renders the pages when this clone never ran `make docs` (tens of seconds on 2 cores).
    const first = await fetch(`${g.url}/docs`);
    expect(first.status).toBe(200);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await g?.dispose();
  });

  it("GET /docs is specified as public text/html with a CSP that allows this origin only", async () => {
    const res = await fetch(`${g.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toBe(DOCS_CSP);
    expect(openapi.paths["/docs"]).toBeDefined();
    expect(openapi.paths["/docs/websocket"]).toBeDefined();
  });

  it("the REST page renders every operation and reaches no other origin", async () => {
    // The sidebar's tag links (their operations open under them).
    const { text, blocked, errors } = await readOffline("/docs", [
      (page) => page.getByRole("link", { name: tagPattern, exact: true }),
    ]);
    expect(blocked).toEqual([]);
    expect(errors).toEqual([]);
    expect(operationSummaries.length).toBeGreaterThan(30);
    const missing = operationSummaries.filter((summary) => !text.includes(summary));
    expect(missing).toEqual([]);
  }, 90_000);

  it("the WebSocket page renders every message and reaches no other origin", async () => {
    // Each channel, then each of its operations (an operation lists its messages by title).
    const { text, blocked, errors } = await readOffline("/docs/websocket", [
      (page) => page.locator("a[href^='/channels/']"),
      (page) => page.locator("a[href*='/operations/']"),
    ]);
    expect(blocked).toEqual([]);
    expect(errors).toEqual([]);
    expect(messageTitles.length).toBeGreaterThan(20);
    const missing = messageTitles.filter((title) => !text.includes(title));
    expect(missing).toEqual([]);
  }, 90_000);
});
