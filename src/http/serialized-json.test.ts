// A body the handler serialised once is served as JSON with an ETag; a client that already has it gets 304.
import { createServer, get as httpGet, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKeyStore } from "../core/identity/api-keys";
import { logger } from "../core/log/logger";
import { openMigratedDatabase } from "../core/store/test-support";
import { createApp } from "./app";
import { createAuthenticator } from "./auth";
import { SerializedJson } from "./handlers";
import { loadSpec } from "./spec";

const KEY = "serialized-json-test-key";
let server: Server;
let base: string;
let list = new SerializedJson({ status: "ok" as const, count: 0, items: [] });

beforeAll(async () => {
  const apiKeys = createApiKeyStore(await openMigratedDatabase(":memory:"), {
    secret: Buffer.from("s"),
    envKeys: [KEY],
    defaultOrg: "default",
  });
  const app = createApp({
    spec: loadSpec(),
    handlers: { Purutos_list: () => ({ status: 200, body: list }) },
    auth: createAuthenticator(apiKeys, async () => ({ sub: "x", roles: [], exp: 0 })),
    logger,
    maxBodyBytes: 2048,
  });
  server = createServer(app.callback());
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

const get = (headers: Record<string, string> = {}) =>
  fetch(`${base}/purutos`, { headers: { "x-api-key": KEY, ...headers } });

/** A conditional GET as a poller using node:http sends it (no `Cache-Control`, unlike fetch). */
function conditionalGet(etag: string): Promise<{ status: number; body: string; etag?: string | undefined }> {
  return new Promise((ok, fail) => {
    httpGet(`${base}/purutos`, { headers: { "x-api-key": KEY, "if-none-match": etag } }, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => ok({ status: res.statusCode!, body, etag: res.headers.etag }));
    }).on("error", fail);
  });
}

describe("pre-serialised JSON bodies", () => {
  it("are sent as the declared JSON with a strong ETag", async () => {
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(await res.json()).toEqual({ status: "ok", count: 0, items: [] });
  });

  it("If-None-Match with the current ETag → 304 without a body; after a change → 200 with the new bytes", async () => {
    const etag = (await get()).headers.get("etag")!;
    const unchanged = await conditionalGet(etag);
    expect(unchanged.status).toBe(304);
    expect(unchanged.body).toBe("");

    list = new SerializedJson({ status: "ok" as const, count: 1, items: [] });
    const changed = await conditionalGet(etag);
    expect(changed.status).toBe(200);
    expect(changed.etag).not.toBe(etag);
    expect((JSON.parse(changed.body) as { count: number }).count).toBe(1);
  });

  it("answers 304 to fetch too, which adds Cache-Control: no-cache to every If-None-Match; a list and W/ match", async () => {
    const etag = (await get()).headers.get("etag")!;
    const res = await get({ "if-none-match": etag });
    expect(res.status).toBe(304);
    expect(await res.text()).toBe("");
    expect((await get({ "if-none-match": `"other", W/${etag}` })).status).toBe(304);
    expect((await get({ "if-none-match": "*" })).status).toBe(304);
    expect((await get({ "if-none-match": '"other"' })).status).toBe(200);
  });

  it("the credentials are still checked before a 304 is given", async () => {
    const etag = (await get()).headers.get("etag")!;
    const res = await fetch(`${base}/purutos`, { headers: { "if-none-match": etag } });
    expect(res.status).toBe(401);
  });
});
