// The typed clients as README shows them, against a real server. This file is type-checked by `make test` under the
// project's own tsconfig (exactOptionalPropertyTypes included): the README's lines must compile as written.
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGatehouseClient } from "../../generated/client";
import { GatehouseSession, type ServerFrame } from "../../generated/ws-client";
import { startTestGatehouse, type TestGatehouse } from "../test-support/gatehouse";

let g: TestGatehouse;
beforeAll(async () => {
  g = await startTestGatehouse();
  process.env.GATEHOUSE_TYPED_CLIENT_TEST_KEY = g.apiKey;
});
afterAll(async () => {
  delete process.env.GATEHOUSE_TYPED_CLIENT_TEST_KEY;
  await g.dispose();
});

describe("the typed REST client", () => {
  it("takes a key read from the environment (string | undefined) and gets typed answers", async () => {
    const gh = createGatehouseClient({ baseUrl: g.url, apiKey: process.env.GATEHOUSE_TYPED_CLIENT_TEST_KEY });
    const { data, error } = await gh.GET("/purutos/{name}", { params: { path: { name: "puruto-data" } } });
    expect(error).toBeUndefined();
    expect(data?.item.name).toBe("puruto-data");
    const missing = await gh.GET("/purutos/{name}", { params: { path: { name: "puruto-nope" } } });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ status: 404, code: "PURUTO_NOT_FOUND" });
  });

  it("gets the documented 304 for an unchanged list (fetch adds Cache-Control: no-cache to a conditional GET)", async () => {
    const gh = createGatehouseClient({ baseUrl: g.url, apiKey: g.apiKey });
    const first = await gh.GET("/purutos");
    const etag = first.response.headers.get("etag")!;
    const again = await gh.GET("/purutos", { params: { header: { "If-None-Match": etag } } });
    expect(again.response.status).toBe(304);
  });
});

describe("the typed WebSocket client", () => {
  it("gives stream frames a seq and notices none, as the README's listener reads them", async () => {
    const token = await g.userTokenFor(g.orgId, "ide-user@typed-client", ["developer"]);
    const ws = new WebSocket(`${g.url.replace(/^http/, "ws")}/ws/typed-client`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const session = new GatehouseSession(ws);
    const frames: ServerFrame[] = [];
    const seen: string[] = [];
    session.onFrame((frame) => {
      frames.push(frame);
      seen.push(`${"seq" in frame ? frame.seq : "(notice)"} ${frame.type}`);
    });
    await new Promise((ok) => ws.once("open", ok));
    ws.send("not json"); // a malformed frame: an error notice about this connection, outside the stream
    await expect.poll(() => frames.find((f) => f.type === "error")).toBeDefined();
    expect(seen).toContain("(notice) error");
    ws.close(1000);
  });
});
