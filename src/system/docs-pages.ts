// The published contract as people read it: `GET /docs` (REST, from generated/openapi.json) and
// `GET /docs/websocket` (sessions, from spec/sessions.asyncapi.yaml), each one self-contained HTML page rendered
// by Redocly (deploy/docs.ts, `make docs`; `make build` ships them in dist/docs).
//
// The pages are specified operations (spec/system.tsp) rather than static files like /console: they are part
// of the contract (public, text/html, 503 when unavailable), so the router, the conformance checks and the docs
// themselves know them. Each page is read once and kept in memory. Pages rendered from another version of the
// contract are re-rendered (a development clone after a spec change); an install without the renderer (no dev
// dependencies) serves what it shipped, or answers 503 when it shipped nothing.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { logger } from "../core/log/logger";
import type { HandlerGroup } from "../http/handlers";
import { problem } from "../http/boundary/problem";

const ROOT = resolve(import.meta.dirname, "../..");
export const DOCS_DIST = join(ROOT, "dist/docs");
export const DOCS_SOURCES = {
  rest: join(ROOT, "generated/openapi.json"),
  websocket: join(ROOT, "spec/sessions.asyncapi.yaml"),
} as const;
export type DocsPageName = keyof typeof DOCS_SOURCES;
/** Where the pages are read (and rendered when missing): GATEHOUSE_DOCS_DIR, else dist/docs of this install. */
export function docsDirFromEnv(env: Record<string, string | undefined>): string {
  return env.GATEHOUSE_DOCS_DIR ? resolve(env.GATEHOUSE_DOCS_DIR) : DOCS_DIST;
}

/** Written beside the pages: the digest of the contract they were rendered from. */
export const DOCS_DIGEST_FILE = "contract.sha256";

/**
 * Inline scripts and styles are how Redocly's self-contained page works; everything else is this origin only,
 * and `connect-src 'self'` keeps the page from calling anywhere else (no telemetry, even if a renderer added it).
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The digest of the contract the pages render (both sources, in a fixed order). */
export function contractDigest(): string {
  const hash = createHash("sha256");
  for (const file of Object.values(DOCS_SOURCES)) hash.update(readFileSync(file));
  return hash.digest("hex");
}

/** Renders the pages into `dir` (deploy/docs.ts); absent from an install without development tools. */
export type DocsRenderer = (dir: string) => Promise<void>;

function upToDate(dir: string): boolean {
  const digestFile = join(dir, DOCS_DIGEST_FILE);
  return existsSync(digestFile) && readFileSync(digestFile, "utf8").trim() === contractDigest();
}

function shipped(dir: string): boolean {
  return Object.keys(DOCS_SOURCES).every((name) => existsSync(join(dir, `${name}.html`)));
}

/** Loads the pages once (rendering them first when missing or stale and a renderer is at hand). */
export function docsPages(
  dir: string = DOCS_DIST,
  renderer: () => Promise<DocsRenderer | undefined> = async () => undefined,
) {
  let loading: Promise<Map<DocsPageName, string>> | undefined;
  const load = async () => {
    if (!upToDate(dir)) {
      const render = await renderer();
      try {
        if (render) await render(dir);
      } catch (err) {
        logger.warn({ err: String(err) }, "the docs pages could not be rendered (run `make docs`)");
      }
    }
    const pages = new Map<DocsPageName, string>();
    if (!shipped(dir)) return pages;
    for (const name of Object.keys(DOCS_SOURCES) as DocsPageName[]) {
      pages.set(name, readFileSync(join(dir, `${name}.html`), "utf8"));
    }
    return pages;
  };
  return async (name: DocsPageName): Promise<string | undefined> => {
    loading ??= load();
    const pages = await loading;
    // Nothing rendered: try again on the next request (the renderer may have failed for a passing reason).
    if (pages.size === 0) loading = undefined;
    return pages.get(name);
  };
}

export function docsHandlers(page: (name: DocsPageName) => Promise<string | undefined> = docsPages()) {
  const serve = async (name: DocsPageName) => {
    const html = await page(name);
    if (html === undefined) {
      throw problem("NOT_CONFIGURED", "The docs pages are not rendered here: run `make docs` (or `make build`)", {
        headers: { "retry-after": "60" },
      });
    }
    return {
      status: 200 as const,
      body: html,
      headers: {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": DOCS_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
      },
    };
  };
  return {
    System_docs: () => serve("rest"),
    System_websocketDocs: () => serve("websocket"),
  } satisfies HandlerGroup;
}
