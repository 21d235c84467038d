// Console sign-in through an external OpenID Connect provider (authorization code + PKCE) in a real browser:
// a tiny local provider (src/test-support/oidc-provider.ts), a Gatehouse that verifies its tokens (JWKS_URL)
// and tells its console about it (GATEHOUSE_OIDC_*), and Debian's chromium driven by playwright-core.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ORG_ID } from "../../../contract-tests/fixtures";
import { loadConfig } from "../../config";
import { logger } from "../../core/log/logger";
import { startGatehouse, type Gatehouse } from "../../server";
import { startTestOidcProvider, type TestOidcOptions, type TestOidcProvider } from "../../test-support/oidc-provider";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = resolve(import.meta.dirname, "../../../.tmp/console-screenshots");
const CLIENT_ID = "gatehouse-console";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === "true") throw new Error(`The console's OIDC browser test needs ${CHROMIUM}`);

let idp: TestOidcProvider;
let g: Gatehouse;
let dataDir: string;
let profileDir: string;
let context: BrowserContext;
let page: Page;
const OPERATOR = { sub: "alice@acme.example", org: ORG_ID, roles: ["operator"] };
const idpOptions: TestOidcOptions = {
  clientId: CLIENT_ID,
  redirectUri: "set once the gateway listens",
  user: OPERATOR,
};

describe.skipIf(!haveChromium)("console sign-in with OIDC (authorization code + PKCE)", () => {
  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    idp = await startTestOidcProvider(idpOptions);
    dataDir = mkdtempSync(join(tmpdir(), "gatehouse-console-oidc-"));
    const env = {
      GATEHOUSE_DATA_DIR: dataDir,
      PORT: "0",
      PURUTO_GATEWAY_API_KEY: "console-oidc-test-key",
      GATEHOUSE_DEFAULT_ORG: ORG_ID,
      LOG_LEVEL: "silent",
      JWKS_URL: idp.jwksUrl,
      GATEHOUSE_JWT_ISSUER: idp.issuer,
      GATEHOUSE_JWT_AUDIENCE: "gatehouse",
      GATEHOUSE_OIDC_ISSUER: idp.issuer,
      GATEHOUSE_OIDC_CLIENT_ID: CLIENT_ID,
    };
    g = await startGatehouse(loadConfig(env), logger, env);
    idpOptions.redirectUri = `${g.url}/console/`;
    profileDir = mkdtempSync(join(tmpdir(), "gatehouse-console-oidc-chromium-"));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await g?.close();
    await idp?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it("lets the console reach the provider, and nothing else, under its Content-Security-Policy", async () => {
    const response = await fetch(`${g.url}/console`);
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain(`connect-src 'self' ${idp.issuer};`);
    expect(csp).toContain("script-src 'self';");
    const config = await (await fetch(`${g.url}/console/config.json`)).json();
    expect(config).toEqual({ oidc: { issuer: idp.issuer, client_id: CLIENT_ID, scope: "openid profile" } });
  });

  it("signs in through the provider with PKCE and lands where the link pointed", async () => {
    await page.goto(`${g.url}/console#/sessions`);
    await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
    await page.getByText("Signed in as").waitFor();
    expect(await page.locator("header .who").textContent()).toContain("alice@acme.example");
    // The provider saw a PKCE (S256) authorization request, then one code exchange.
    const authorize = idp.requests.find((r) => r.startsWith("GET /authorize?"));
    expect(authorize).toContain("code_challenge_method=S256");
    expect(authorize).toContain(`client_id=${CLIENT_ID}`);
    expect(idp.requests.filter((r) => r === "POST /token")).toHaveLength(1);
    // The code is gone from the address bar, the fragment the operator came with is back, no cookie was set.
    expect(page.url()).toBe(`${g.url}/console/#/sessions`);
    expect(await page.getByRole("tab", { name: "Sessions" }).getAttribute("aria-selected")).toBe("true");
    expect(await context.cookies(g.url)).toEqual([]);
    // The provider's token works on the operator API (the view loaded through it).
    await expect
      .poll(() => page.getByRole("table", { name: "Live sessions" }).textContent())
      .toContain("No IDE is connected.");
    await page.screenshot({ path: join(SCREENSHOTS, "oidc-signed-in.png"), fullPage: true });
  });

  it("refuses a provider user without the operator role, with the reason", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    idpOptions.user = { sub: "bob@acme.example", org: ORG_ID, roles: ["developer"] };
    await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
    const alert = page.getByRole("alert");
    await expect.poll(() => alert.textContent()).toContain("This token cannot operate the console");
    idpOptions.user = OPERATOR;
  });

  it("without an end_session_endpoint, signs out of the console only and says so", async () => {
    await signInWithSso();
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect
      .poll(() => page.getByRole("status").textContent())
      .toContain("Signed out of the console only: 127.0.0.1");
    expect(await page.getByRole("status").textContent()).toContain("no sign-out endpoint (end_session_endpoint)");
    expect(await consoleStorage()).toEqual({});
  });

  it("signs out at the provider too (RP-initiated logout) after forgetting the tokens, and comes back", async () => {
    idpOptions.endSession = true;
    try {
      await signInWithSso();
      const idToken = (await consoleStorage())["gatehouse.console.oidc.id_token"];
      // Whatever the address bar says, sign-out comes back to the console itself.
      await page.goto(`${g.url}/console/?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F#/sessions`);
      await page.getByText("Signed in as").waitFor();
      const before = idp.requests.length;
      await page.getByRole("button", { name: "Sign out" }).click();
      await expect.poll(() => page.getByRole("status").textContent()).toContain("127.0.0.1");
      expect(await page.getByRole("status").textContent()).toContain("was asked to end your session there too");
      const logout = idp.requests.slice(before).find((r) => r.startsWith("GET /logout?"));
      expect(logout).toBeDefined();
      const params = new URL(logout!.slice(4), idp.issuer).searchParams;
      expect(params.get("id_token_hint")).toBe(idToken);
      expect(params.get("post_logout_redirect_uri")).toBe(`${g.url}/console/`);
      expect(params.get("client_id")).toBe(CLIENT_ID);
      expect(page.url()).toBe(`${g.url}/console/`);
      expect(await consoleStorage()).toEqual({});
      await page.getByRole("button", { name: "Sign in with single sign-on" }).waitFor();
    } finally {
      idpOptions.endSession = false;
    }
  });

  it.each([
    ["on another origin", "https://evil.example/logout"],
    ["a javascript: URL", "javascript:alert(document.domain)"],
  ])("does not follow an end_session_endpoint %s: signs out here and says so", async (_name, endpoint) => {
    idpOptions.endSession = true;
    idpOptions.endSessionEndpoint = endpoint;
    try {
      await signInWithSso();
      const before = idp.requests.length;
      await page.getByRole("button", { name: "Sign out" }).click();
      await expect.poll(() => page.getByRole("status").textContent()).toContain("Signed out of the console only");
      expect(await page.getByRole("status").textContent()).toContain("its end_session_endpoint is not on 127.0.0.1");
      expect(page.url().startsWith(`${g.url}/console`)).toBe(true);
      expect(idp.requests.slice(before).filter((r) => r.includes("logout"))).toEqual([]);
      expect(await consoleStorage()).toEqual({});
    } finally {
      idpOptions.endSession = false;
      delete idpOptions.endSessionEndpoint;
    }
  });

  it("signs in with the access token only: an opaque one is refused with the reason, not swapped for the ID token", async () => {
    idpOptions.opaqueAccessToken = true;
    try {
      await page.goto(`${g.url}/console/`);
      await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("access token that is not a JWT");
      expect(await consoleStorage()).toEqual({});
    } finally {
      idpOptions.opaqueAccessToken = false;
    }
  });

  it("forgets an abandoned sign-in attempt when the console loads again, so its callback no longer completes", async () => {
    idpOptions.holdAuthorize = true;
    try {
      const callback = await startAndHold();
      // The operator gives up at the provider and comes back to the console.
      await page.goto(`${g.url}/console/`);
      await page.getByRole("button", { name: "Sign in with single sign-on" }).waitFor();
      expect(await consoleStorage()).toEqual({});
      const exchanges = tokenExchanges();
      await page.goto(callback);
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("not started from this tab");
      expect(tokenExchanges()).toBe(exchanges);
      expect(page.url()).toBe(`${g.url}/console/`);
    } finally {
      idpOptions.holdAuthorize = false;
    }
  });

  it("refuses a replayed callback and a callback whose state is not this tab's, without exchanging the code", async () => {
    idpOptions.holdAuthorize = true;
    try {
      const callback = await startAndHold();
      await page.locator("#continue").click();
      await page.getByText("Signed in as").waitFor();
      await page.getByRole("button", { name: "Sign out" }).click();
      const exchanges = tokenExchanges();
      await page.goto(callback); // replayed from history
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("not started from this tab");
      // A callback made for another attempt (login CSRF): the state is not the one this tab sent.
      const forged = new URL(await startAndHold());
      forged.searchParams.set("state", "attacker-state");
      await page.goto(forged.href);
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("state");
      expect(tokenExchanges()).toBe(exchanges);
      expect(await page.getByText("Signed in as").count()).toBe(0);
      expect(await consoleStorage()).toEqual({});
    } finally {
      idpOptions.holdAuthorize = false;
    }
  });

  // Last: the page's clock stays ahead afterwards.
  it("refuses a callback that comes back more than 10 minutes after the attempt started", async () => {
    idpOptions.holdAuthorize = true;
    try {
      await page.clock.install();
      await startAndHold();
      await page.clock.fastForward("10:30");
      const exchanges = tokenExchanges();
      await page.locator("#continue").click();
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("more than 10 minutes ago");
      expect(tokenExchanges()).toBe(exchanges);
      expect(await consoleStorage()).toEqual({});
    } finally {
      idpOptions.holdAuthorize = false;
    }
  });
});

async function signInWithSso(): Promise<void> {
  await page.goto(`${g.url}/console/`);
  await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
  await page.getByText("Signed in as").waitFor();
}

/** Starts single sign-on against a provider that holds at its page; the callback URL its "Continue" leads to. */
async function startAndHold(): Promise<string> {
  await page.goto(`${g.url}/console/`);
  await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
  await page.locator("#continue").waitFor();
  return (await page.locator("#continue").getAttribute("href")) ?? "";
}

const tokenExchanges = () => idp.requests.filter((r) => r === "POST /token").length;

/** What the console keeps in this tab's sessionStorage (read on the console's origin). */
async function consoleStorage(): Promise<Record<string, string>> {
  if (!page.url().startsWith(g.url)) throw new Error(`not on the console: ${page.url()}`);
  return page.evaluate<Record<string, string>>("Object.fromEntries(Object.entries(sessionStorage))");
}
