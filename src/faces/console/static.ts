// Serves the operator console's static assets at /console: a fixed set of files read once at start-up, with
// a strict Content-Security-Policy (scripts and styles from this origin only, nothing inline, no framing).
// The assets are built by `make build-console`; a clone where that never ran gets them built here once.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join } from "node:path";
import { CONSOLE_DIST } from "../../../console/paths";
import { logger } from "../../core/log/logger";
import { decideRequestId, type HttpProblem, problem, renderProblem } from "../../http/boundary";
import type { ConsoleOidc } from "./oidc";

export const CONSOLE_PATH = "/console";

// The request line of a console file: id, method, path, route and status only, none a credential, so it skips the
// logger's redaction as the API's request line does (src/http/app.ts).
const requestLog = logger.child({}, { redact: [] });

/**
 * The console's Content-Security-Policy. With an OIDC provider, the browser also talks to the provider's origin
 * (discovery and the token endpoint), and only to it.
 */
export function consoleCsp(connectOrigins: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    ["connect-src 'self'", ...connectOrigins].join(" "),
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export const CONSOLE_CSP = consoleCsp();

const CONTENT_TYPES: Record<string, string> = {
  ".json": "application/json; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

interface Asset {
  type: string;
  bytes: Buffer;
}

export interface ConsoleAssets {
  /** Answers the request when it is for the console (true), else leaves it alone (false). */
  serve(req: IncomingMessage, res: ServerResponse): boolean;
}

export interface ConsoleOptions {
  /** Sign-in through this OpenID Connect provider besides the operator token field. */
  oidc?: ConsoleOidc;
}

/**
 * Finds the built console (building it when absent) and keeps its files in memory, with `config.json`: what
 * the running gateway tells its console (the OIDC provider, when there is one).
 */
export async function loadConsoleAssets(
  dir: string = CONSOLE_DIST,
  options: ConsoleOptions = {},
): Promise<ConsoleAssets> {
  const assets = new Map<string, Asset>();
  const csp = consoleCsp(options.oidc ? [new URL(options.oidc.issuer).origin] : []);
  if (!existsSync(join(dir, "index.html")) && !(await buildOnce(dir))) {
    return { serve: (req, res) => serveAsset(assets, csp, req, res) };
  }
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type) assets.set(name, { type, bytes: readFileSync(join(dir, name)) });
  }
  const config = options.oidc ? { oidc: options.oidc } : {};
  assets.set("config.json", {
    type: CONTENT_TYPES[".json"] ?? "application/json",
    bytes: Buffer.from(JSON.stringify(config)),
  });
  return { serve: (req, res) => serveAsset(assets, csp, req, res) };
}

/**
 * A clone where `make build-console` never ran: build once. esbuild is a development tool: an install without
 * it (production, where `make build` ships console/dist) gets a console that answers 404 and a log line.
 */
async function buildOnce(dir: string): Promise<boolean> {
  try {
    const { buildConsole } = await import("../../../console/build");
    await buildConsole(dir, { replaceExisting: false });
    return true;
  } catch (err) {
    logger.warn(
      { err: String(err) },
      "the operator console is not built (run `make build-console`); /console answers 404",
    );
    return false;
  }
}

function serveAsset(assets: Map<string, Asset>, csp: string, req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? "";
  if (!url.startsWith(CONSOLE_PATH)) return false; // every API request passes here: no split for them
  const [path = ""] = url.split("?");
  if (path !== CONSOLE_PATH && !path.startsWith(`${CONSOLE_PATH}/`)) return false;
  const name =
    path === CONSOLE_PATH || path === `${CONSOLE_PATH}/` ? "index.html" : path.slice(CONSOLE_PATH.length + 1);
  const asset = assets.get(name);
  // The request id of every other answer (src/http/app.ts): the caller's when it is safe, else a new one.
  const header = req.headers["x-request-id"];
  const requestId = decideRequestId(Array.isArray(header) ? header[0] : header);
  const headers: Record<string, string> = {
    "x-request-id": requestId,
    "content-security-policy": csp,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
  };
  if (req.method !== "GET" && req.method !== "HEAD") {
    const refused = problem("METHOD_NOT_ALLOWED", "The console's files are read with GET or HEAD", {
      headers: { allow: "GET, HEAD" },
    });
    sendProblem(res, headers, refused, { instance: path, requestId });
  } else if (!asset) {
    sendProblem(res, headers, problem("ROUTE_NOT_FOUND", "No such file in the console"), { instance: path, requestId });
  } else {
    res.writeHead(200, { ...headers, "content-type": asset.type, "content-length": String(asset.bytes.length) });
    res.end(req.method === "HEAD" ? undefined : asset.bytes);
  }
  // The request line of every other answer, under the same id.
  requestLog.info(
    { request_id: requestId, method: req.method, path, route: "console", status: res.statusCode },
    "request",
  );
  return true;
}

/** Errors are problem+json here too, like every other answer of the gateway. */
function sendProblem(
  res: ServerResponse,
  headers: Record<string, string>,
  refused: HttpProblem,
  at: { instance: string; requestId: string },
): void {
  const rendered = renderProblem(refused, at);
  res.writeHead(rendered.status, { ...headers, ...rendered.headers }).end(JSON.stringify(rendered.body));
}
