// The conditions an error example is about, named in the example's name like `*unauthorized*` is (./examples.ts
// scenarioOf): the replay starts the server the way the example needs (a small body limit, a rate limit of one
// request, PostgreSQL behind a connection that can be cut) and sends the documented request the way the example
// says (an unknown query parameter, a body that is not JSON, a body that trickles). Prism serves the documented
// example unchanged; only the replay against the real server needs the condition.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestPgDatabase, reachablePostgres, type TestPgDatabase } from "../src/core/store/test-support";
import type { ExampleCase } from "./examples";
import type { TestGatehouse } from "./fixtures";

/** How the documented request is sent to the real server. */
export interface Delivery {
  /** Query parameters added to the documented ones. */
  query?: Record<string, string>;
  /** The body's media type instead of application/json (the body is still the documented JSON text). */
  contentType?: string;
  /** Bytes added to the documented body (a field `padding`), to exceed the body limit. */
  padBytes?: number;
  /** Bytes of an extra header (`X-Padding`), to exceed the parser's header limit. */
  padHeaderBytes?: number;
  /** Send the headers and the first half of the body, then wait this long before the rest. */
  trickleMs?: number;
  /** The `Host` header, in place of the URL's (fetch cannot set it: sent over node:http). */
  host?: string;
  /** An `Origin` header, as a browser's. */
  origin?: string;
  /** An `Expect` header (fetch refuses to send one: sent over node:http). */
  expect?: string;
}

export interface Scenario {
  /** Server environment over the test defaults. */
  env(): Promise<Record<string, string>>;
  /** Runs on the started server before the request (spends the rate limit, cuts the database); may name headers. */
  before?(g: TestGatehouse): Promise<Record<string, string> | undefined>;
  /** Runs before the server is disposed. */
  after?(): Promise<void>;
  delivery?: Delivery;
}

/** A small body limit for the `body_too_large` examples (the default is 1 MiB). */
const SMALL_BODY_LIMIT = 1024;
/** A short body deadline for the `body_timeout` examples (the default is 15 s). */
const SHORT_BODY_TIMEOUT_MS = 300;
/** A header larger than Node's whole header limit (16 KiB by default) for the `headers_too_large` examples. */
const OVERSIZED_HEADER_BYTES = 100 * 1024;
/** The secret of the PostgreSQL scenarios' servers: they share one database, which seals signing keys with it. */
const PG_SECRET = "contract-test-pg-secret-0123456789";

/** An org other than the test org (whose purutos face is not theirs). */
const OTHER_ORG = "99999999-0000-4000-8000-000000000000";

/** The name a DNS-rebinding page resolves to the gateway's address: not one the gateway answers for. */
export const REBOUND_HOST = "rebind.attacker.example";

/** A query parameter no operation defines. */
export const UNKNOWN_PARAMETER = { page_size: "10" };

let database: Promise<TestPgDatabase> | undefined;

/** One PostgreSQL database for every scenario that needs one (each server migrates it; nothing is stored). */
async function sharedDatabase(): Promise<TestPgDatabase> {
  database ??= (async () => {
    const admin = await reachablePostgres();
    if (!admin) throw new Error("the PostgreSQL examples need PostgreSQL (see src/core/store/test-support.ts)");
    return createTestPgDatabase(admin);
  })();
  return database;
}

/** Drops the scenarios' database (after the file's last replay). */
export async function disposeScenarios(): Promise<void> {
  const db = database;
  database = undefined;
  if (db) await (await db).drop();
}

/** Forwards TCP to PostgreSQL; `cut()` drops every connection and refuses new ones (the database "went away"). */
async function breakableProxy(target: URL) {
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as { port: number }).port;
  return {
    url: Object.assign(new URL(target), { host: `127.0.0.1:${port}` }).toString(),
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

function databaseUnavailable(): Scenario {
  let proxy: Awaited<ReturnType<typeof breakableProxy>> | undefined;
  return {
    async env() {
      proxy = await breakableProxy(new URL((await sharedDatabase()).url));
      return { DATABASE_URL: proxy.url, GATEHOUSE_SECRET: PG_SECRET };
    },
    before: async () => {
      proxy?.cut();
      return undefined;
    },
    async after() {
      proxy?.restore();
      await proxy?.close();
    },
  };
}

/**
 * An install that shipped no docs pages where it reads them and cannot render them there (a read-only file
 * system): GATEHOUSE_DOCS_DIR names a folder inside a regular file, so rendering fails at its first mkdir.
 */
function docsNotRendered(): Scenario {
  let dir: string | undefined;
  return {
    async env() {
      dir = mkdtempSync(join(tmpdir(), "gatehouse-docs-"));
      const notAFolder = join(dir, "not-a-folder");
      writeFileSync(notAFolder, "");
      return { GATEHOUSE_DOCS_DIR: join(notAFolder, "docs") };
    },
    async after() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The scenario an example's name asks for, or undefined for a plain replay. */
export function scenarioFor(c: ExampleCase): Scenario | undefined {
  const name = c.name;
  if (name.includes("unknown_parameter")) return { env: async () => ({}), delivery: { query: UNKNOWN_PARAMETER } };
  if (name.includes("unsupported_media_type"))
    return { env: async () => ({}), delivery: { contentType: "text/plain" } };
  if (name.includes("body_too_large"))
    return {
      env: async () => ({ GATEHOUSE_MAX_BODY_BYTES: String(SMALL_BODY_LIMIT) }),
      delivery: { padBytes: SMALL_BODY_LIMIT * 2 },
    };
  if (name.includes("headers_too_large"))
    return { env: async () => ({}), delivery: { padHeaderBytes: OVERSIZED_HEADER_BYTES } };
  if (name.includes("expectation_failed")) return { env: async () => ({}), delivery: { expect: "200-ok" } };
  // DNS rebinding: the page's own name in Host (the browser sends it), or its origin on a request to the real name.
  if (name.includes("host_not_allowed")) return { env: async () => ({}), delivery: { host: `${REBOUND_HOST}:8000` } };
  if (name.includes("origin_not_allowed"))
    return { env: async () => ({}), delivery: { origin: `http://${REBOUND_HOST}` } };
  if (name.includes("body_timeout"))
    return {
      env: async () => ({ GATEHOUSE_BODY_TIMEOUT_MS: String(SHORT_BODY_TIMEOUT_MS) }),
      delivery: { trickleMs: SHORT_BODY_TIMEOUT_MS * 3 },
    };
  if (name.includes("rate_limited"))
    return {
      env: async () => ({ GATEHOUSE_RATE_LIMIT_PER_API_KEY: "1", GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS: "600" }),
      // The one request the key may make in the window.
      before: async (g) => {
        await (await fetch(`${g.url}/purutos`, { headers: { "x-api-key": g.apiKey } })).text();
        return undefined;
      },
    };
  if (name.includes("other_org_api_key"))
    return {
      env: async () => ({}),
      before: async (g) => ({ "X-API-Key": (await g.apiKeys.create(OTHER_ORG, "an agent of another org")).key }),
    };
  // Its webhook's receiver runs on this machine (contract-tests/setups/operator.ts): the SSRF guard lets it through.
  if (name === "gatehouse_list_deliveries")
    return { env: async () => ({ GATEHOUSE_WEBHOOK_PRIVATE_HOSTS: "127.0.0.1" }) };
  if (name.includes("database_unavailable")) return databaseUnavailable();
  if (name.includes("docs_not_rendered")) return docsNotRendered();
  return undefined;
}

export interface Sent {
  status: number;
  contentType: string;
  text: string;
}

/** Sends the request as the delivery says: over fetch, or over node:http when the body must trickle. */
export async function deliver(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: unknown,
  delivery: Delivery = {},
): Promise<Sent> {
  const target = new URL(url);
  for (const [k, v] of Object.entries(delivery.query ?? {})) target.searchParams.set(k, v);
  const padded =
    body !== undefined && delivery.padBytes
      ? { ...(body as Record<string, unknown>), padding: "x".repeat(delivery.padBytes) }
      : body;
  const text = padded === undefined ? undefined : JSON.stringify(padded);
  const sentHeaders = {
    ...headers,
    ...(delivery.origin ? { Origin: delivery.origin } : {}),
    ...(delivery.host ? { Host: delivery.host } : {}),
    ...(delivery.expect ? { Expect: delivery.expect } : {}),
    ...(delivery.padHeaderBytes ? { "X-Padding": "x".repeat(delivery.padHeaderBytes) } : {}),
    ...(text === undefined ? {} : { "Content-Type": delivery.contentType ?? "application/json" }),
  };
  if (delivery.host || delivery.expect) return trickle(target, method, sentHeaders, text, 0);
  if (!delivery.trickleMs || text === undefined) {
    const res = await fetch(target, { method, headers: sentHeaders, ...(text === undefined ? {} : { body: text }) });
    return { status: res.status, contentType: res.headers.get("content-type") ?? "", text: await res.text() };
  }
  return trickle(
    target,
    method,
    { ...sentHeaders, "Content-Length": String(Buffer.byteLength(text)) },
    text,
    delivery.trickleMs,
  );
}

/** Over node:http: the body's first half, then the rest `waitMs` later (at once with 0: any header can be set). */
function trickle(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  waitMs: number,
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.once("end", () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), text }),
      );
      res.once("error", reject);
    });
    // The server answers (and closes) before the rest arrives.
    req.once("error", (err) => ((err as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(err)));
    if (body === undefined) return void req.end();
    req.write(body.slice(0, Math.floor(body.length / 2)));
    const timer = setTimeout(() => req.end(body.slice(Math.floor(body.length / 2))), waitMs);
    req.once("close", () => clearTimeout(timer));
  });
}
