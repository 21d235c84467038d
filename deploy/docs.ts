// `make docs` (and `make build`): the published contract as two self-contained HTML pages in dist/docs/ —
// rest.html from generated/openapi.json, websocket.html from spec/sessions.asyncapi.yaml — served by Gatehouse at
// /docs and /docs/websocket (src/system/docs-pages.ts) and readable as files.
//
// Offline by construction: Redocly inlines its scripts (`--inlineBundle`), its telemetry is off in the CLI
// (REDOCLY_TELEMETRY) and in the page (`disableTelemetry`), and the one asset the page still fetched from
// Redocly's CDN (the "API docs by" logo) is replaced by an inline image. The browser test
// (src/system/docs-pages.browser.test.ts) opens both pages with every other origin blocked and fails on any
// attempt to reach one.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { DOCS_DIGEST_FILE, DOCS_DIST, DOCS_SOURCES, contractDigest, type DocsPageName } from "../src/system/docs-pages";

const ROOT = resolve(import.meta.dirname, "..");
const REDOCLY = join(ROOT, "node_modules/.bin/redocly");

const TITLES: Record<DocsPageName, string> = {
  rest: "Gatehouse REST API",
  websocket: "Gatehouse WebSocket API",
};

/** Redocly's attribution logo, drawn inline instead of fetched from its CDN. */
const LOGO = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="16"><text x="0" y="12" font-family="sans-serif" font-size="12">Redocly</text></svg>',
)}`;
const CDN_ASSETS = /https:\/\/cdn\.redoc\.ly\/redoc\/logo-mini(?:-full)?\.svg/g;

async function renderOne(name: DocsPageName, output: string): Promise<void> {
  const kind = name === "rest" ? "openapi" : "asyncapi";
  await promisify(execFile)(
    REDOCLY,
    [
      "build-docs",
      DOCS_SOURCES[name],
      "--inlineBundle",
      `--${kind}.disableTelemetry=true`,
      "--title",
      TITLES[name],
      "--output",
      output,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  writeFileSync(output, readFileSync(output, "utf8").replace(CDN_ASSETS, LOGO));
}

/** Renders both pages into `dir` (replacing what is there only once both are rendered). */
export async function renderDocs(dir: string = DOCS_DIST): Promise<void> {
  const digest = contractDigest();
  const staging = `${dir}.rendering-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    await Promise.all(
      (Object.keys(DOCS_SOURCES) as DocsPageName[]).map((name) => renderOne(name, join(staging, `${name}.html`))),
    );
    writeFileSync(join(staging, DOCS_DIGEST_FILE), `${digest}\n`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(resolve(dir, ".."), { recursive: true });
    renameSync(staging, dir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await renderDocs();
  const where = relative(process.cwd(), DOCS_DIST) || ".";
  console.log(
    `open ${where}/rest.html and ${where}/websocket.html (or /docs and /docs/websocket on a running Gatehouse)`,
  );
}
