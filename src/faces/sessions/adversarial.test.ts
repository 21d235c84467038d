// Adversarial: sessions belong to one principal, anonymous noise cannot lock a user out, and a slow consumer
// that never reads again is still counted as 1013.
import { connect as connectTcp } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { registry } from "../../core/metrics/registry";
import {
  openIde,
  refusedUpgrade,
  startGateway,
  startIdp,
  type IdeClient,
  type TestGateway,
  type TestIdp,
} from "./test-support";

let idp: TestIdp;
const running: TestGateway[] = [];
const clients: IdeClient[] = [];

beforeAll(async () => {
  idp = await startIdp();
});
afterAll(() => idp.close());
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const g of running.splice(0)) await g.close();
});

async function gatewayWith(overrides: Parameters<typeof startGateway>[1] = {}) {
  const g = await startGateway(idp, overrides);
  running.push(g);
  return g;
}

async function connect(g: TestGateway, sessionId: string, token: string) {
  const c = await openIde(`${g.wsBase}/ws/${sessionId}`, { token });
  clients.push(c);
  return c;
}

describe("session ownership: (issuer, org, sub)", () => {
  it("another org's principal with the same sub, or one without an org, never reaches the owner's session", async () => {
    const g = await gatewayWith();
    const ownerToken = await idp.mint({ sub: "dev", org: "acme" });
    const owner = await connect(g, "own-1", ownerToken);
    owner.send({ type: "user_message", content: "mine" });
    await owner.next((f) => f.type === "assistant_message");
    for (const token of [await idp.mint({ sub: "dev", org: "evil" }), await idp.mint({ sub: "dev" })]) {
      // A resume in the handshake: as for an id that never existed.
      const resumed = await refusedUpgrade(`${g.wsBase}/ws/own-1`, {
        headers: { authorization: `Bearer ${token}`, "x-gatehouse-last-seq": "1" },
      });
      expect(resumed).toMatchObject({ status: 404, body: { code: "SESSION_NOT_FOUND" } });
      // A fresh connect opens a session of their own: nothing of the owner's, and the owner's socket stays.
      const other = await connect(g, "own-1", token);
      other.send({ type: "resume", last_seq: 1 });
      expect(await other.next((f) => f.type === "error")).toMatchObject({ error_code: "SESSION_NOT_FOUND" });
      expect(other.frames.some((f) => f.seq !== undefined)).toBe(false);
    }
    expect(owner.ws.readyState).toBe(owner.ws.OPEN);
    // The owner still gets back in, to her own stream.
    owner.ws.terminate();
    const again = await openIde(`${g.wsBase}/ws/own-1`, {
      token: ownerToken,
      headers: { "x-gatehouse-last-seq": "1" },
    });
    clients.push(again);
    expect(await again.next((f) => f.type === "session_resumed")).toMatchObject({ session_id: "own-1" });
  });
});

describe("a handshake ws refuses after the token was accepted", () => {
  it("leaves no session behind: the id expires like one whose IDE left", async () => {
    const g = await gatewayWith({ options: { sessionTtlMs: 300 } });
    const token = await idp.mint({ sub: "dev", org: "acme" });
    const port = new URL(g.wsBase).port;
    const answer = await new Promise<string>((resolve) => {
      const socket = connectTcp(Number(port), "127.0.0.1", () =>
        socket.write(
          "GET /ws/bad-handshake HTTP/1.1\r\nHost: gatehouse\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\nAuthorization: Bearer ${token}\r\n\r\n`,
        ),
      );
      let text = "";
      socket.on("data", (chunk) => (text += chunk.toString()));
      socket.on("close", () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    await expect.poll(() => g.gateway.list("acme").map((s) => s.session_id), { timeout: 3000 }).toEqual([]);
  });
});

describe("upgrade rate limits: anonymous attempts are a separate bucket", () => {
  it("ten anonymous attempts from one address do not lock out a valid user from it", async () => {
    const g = await gatewayWith({ options: { connectionsPerIpPerMinute: 10 } });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await refusedUpgrade(`${g.wsBase}/ws/anon-${i}`, { headers: { authorization: "Bearer not-a-jwt" } });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    // The anonymous bucket is spent: more noise is throttled…
    expect(statuses.slice(10)).toEqual([429, 429]);
    // …but the user behind the same address connects.
    const c = await connect(g, "valid-after-noise", await idp.mint({ sub: "carol", org: "acme" }));
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });
});

describe("slow consumer", () => {
  it("counts the close as 1013 even when the IDE never reads again (the socket is terminated)", async () => {
    const flood = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => flood.once("listening", r));
    const token = "x".repeat(64 * 1024);
    flood.on("connection", (ws) =>
      ws.on("message", () => {
        for (let i = 0; i < 400; i++) ws.send(JSON.stringify({ type: "assistant_message", token, is_final: false }));
      }),
    );
    const closes1013 = async () =>
      (await registry.getSingleMetric("gatehouse_ws_closes_total")!.get()).values.find((v) => v.labels.code === "1013")
        ?.value ?? 0;
    const before = await closes1013();
    const port = (flood.address() as { port: number }).port;
    const g = await gatewayWith({
      withRuntime: false,
      agentRuntimeUrl: `http://127.0.0.1:${port}`,
      // The close frame waits behind the unread bytes for 500 ms (5 s by default) before the socket is cut.
      options: { maxBufferedBytes: 256 * 1024, slowConsumerCloseMs: 500 },
    });
    try {
      const c = await connect(g, "slow-never", await idp.mint());
      const socket = (c.ws as unknown as { _socket: { pause(): void } })._socket;
      socket.pause(); // the IDE stops reading for good
      c.send({ type: "user_message", content: "flood me" });
      await expect.poll(closes1013, { timeout: 12_000, interval: 50 }).toBeGreaterThan(before);
    } finally {
      flood.close();
    }
  }, 20_000);
});
