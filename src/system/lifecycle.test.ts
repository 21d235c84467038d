// Probes and draining as a load balancer and an orchestrator see them.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestGatehouse, type TestGatehouse } from "../test-support/gatehouse";
import { HttpProblem } from "../http/problem";
import { createLifecycle, probeHandlers, trackInFlight } from "./lifecycle";

const request = {} as never;

describe("readiness", () => {
  it("is false while starting and while draining, true in between; liveness stays true", async () => {
    const lifecycle = createLifecycle();
    const handlers = probeHandlers(lifecycle, { database: async () => "connected" });
    await expect(handlers.System_readyz(request)).rejects.toMatchObject({ status: 503, detail: "not ready: starting" });
    lifecycle.markReady();
    await expect(handlers.System_readyz(request)).resolves.toMatchObject({ status: 200, body: { status: "ready" } });
    lifecycle.startDraining();
    await expect(handlers.System_readyz(request)).rejects.toMatchObject({ status: 503, detail: "not ready: draining" });
    expect(await handlers.System_livez(request)).toMatchObject({ status: 200, body: { status: "alive" } });
  });

  it("is false, naming the dependency, when one it needs is down", async () => {
    const lifecycle = createLifecycle();
    lifecycle.markReady();
    const handlers = probeHandlers(lifecycle, {
      database: async () => "connected",
      redis: async () => "disconnected",
    });
    const problem = (await Promise.resolve(handlers.System_readyz(request)).catch((e: unknown) => e)) as HttpProblem;
    expect(problem).toBeInstanceOf(HttpProblem);
    expect(problem.extras).toMatchObject({
      code: "NOT_READY",
      errors: [{ pointer: "/checks/redis", message: "redis is disconnected" }],
    });
  });

  it("counts a probe that throws as down", async () => {
    const lifecycle = createLifecycle();
    lifecycle.markReady();
    const handlers = probeHandlers(lifecycle, { database: () => Promise.reject(new Error("closed")) });
    await expect(handlers.System_readyz(request)).rejects.toMatchObject({ status: 503 });
  });
});

describe("in-flight tracking", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it("waits for a slow request, and gives up at the bound", async () => {
    let release!: () => void;
    server = createServer((_req, res) => {
      release = () => res.end("done");
    });
    const inFlight = trackInFlight(server);
    await new Promise<void>((ok) => server!.listen(0, "127.0.0.1", ok));
    const { port } = server.address() as AddressInfo;
    const answer = fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
    await expect.poll(() => inFlight.active()).toBe(1);
    expect(await inFlight.settled(10)).toBe(false);
    const settled = inFlight.settled(30_000);
    release();
    expect(await settled).toBe(true);
    expect(await answer).toBe("done");
  });
});

describe("the live server", () => {
  let g: TestGatehouse | undefined;
  afterEach(async () => {
    await g?.dispose().catch(() => undefined);
    g = undefined;
  });

  it("answers /livez and /readyz, and /readyz reports the database it needs", async () => {
    g = await startTestGatehouse();
    expect(await (await fetch(`${g.url}/livez`)).json()).toEqual({ status: "alive" });
    const ready = await fetch(`${g.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: "ready",
      checks: {
        database: "connected",
        redis: "not_configured",
        events: "not_configured",
        store_claim: "not_configured",
        clock_skew: "not_configured",
      },
    });
  });

  it("is not ready when Redis is configured but down (503 problem+json naming redis)", async () => {
    g = await startTestGatehouse({ env: { REDIS_URL: "redis://127.0.0.1:1/0" } });
    const res = await fetch(`${g.url}/readyz`);
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    const body = (await res.json()) as { code: string; detail: string };
    expect(body.code).toBe("NOT_READY");
    expect(body.detail).toContain("redis");
  });

  it("on close: readiness turns false, WS sessions close with 1012, then the server stops", async () => {
    g = await startTestGatehouse();
    const token = await g.userTokenFor(g.orgId, "ide@test", ["developer"]);
    const ws = new WebSocket(`${g.url.replace("http", "ws")}/ws/drain-session`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await new Promise<void>((ok, fail) => {
      ws.once("open", () => ok());
      ws.once("error", fail);
    });
    const closed = new Promise<number>((ok) => ws.once("close", (code) => ok(code)));
    const closing = g.close();
    expect(g.lifecycle.phase).toBe("draining");
    expect(await closed).toBe(1012);
    await closing;
    await expect(fetch(`${g.url}/livez`)).rejects.toThrow();
    g = undefined;
  });
});
