// GET /health is serialised once per round of probes and discovery index (handlers.ts): a cached answer must
// never outlive the state it describes.
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { SerializedJson } from "../http/handlers";
import { systemHandlers } from "./handlers";

const ASYNCAPI = resolve(import.meta.dirname, "../../spec/sessions.asyncapi.yaml");
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

function healthOf(reply: { body: unknown }) {
  expect(reply.body).toBeInstanceOf(SerializedJson);
  const body = reply.body as SerializedJson<unknown>;
  expect(body.etag).toBeUndefined(); // the spec documents no 304 for /health
  return JSON.parse(body.bytes.toString("utf8"));
}

describe("GET /health answer", () => {
  it("follows a dependency that goes down and a discovery index that changes; unchanged, the same bytes", async () => {
    let runtime = "available";
    let discovery = { purutos: 1, sources: ["scan:…/eco"], problems: [] as string[] };
    const handlers = systemHandlers({
      version: "1.2.3",
      openapi: {},
      asyncapiFile: ASYNCAPI,
      probes: { database: async () => "connected", agent_runtime: async () => runtime },
      discovery: async () => discovery,
      probeMaxAgeMs: 20,
      jwks: () => [],
    });
    const first = await handlers.System_health();
    expect(healthOf(first)).toMatchObject({ status: "healthy", dependencies: { agent_runtime: "available" } });
    expect((await handlers.System_health()).body).toBe(first.body);

    runtime = "unavailable";
    await sleep(30);
    await handlers.System_health(); // starts the next round of probes; the last answer is served meanwhile
    await sleep(5);
    expect(healthOf(await handlers.System_health())).toMatchObject({
      status: "degraded",
      dependencies: { agent_runtime: "unavailable" },
    });

    discovery = { purutos: 2, sources: ["scan:…/eco"], problems: [] };
    expect(healthOf(await handlers.System_health())).toMatchObject({ discovery: { purutos: 2 } });
  });
});
