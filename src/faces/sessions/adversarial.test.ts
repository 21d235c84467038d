// Adversarial: sessions belong to one principal, anonymous noise cannot lock a user out, and a slow consumer
// that never reads again is still counted as 1013.
import { connect as connectTcp } from "node:net";
import { describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { registry } from "../../core/metrics/registry";
import { sessionsFixture } from "./sessions-fixture";
import { refusedUpgrade, type TestGateway } from "./test-support";

const fx = sessionsFixture();

async function connect(g: TestGateway, sessionId: string, token: string) {
  return fx.ide(g, sessionId, { token });
}

describe("session ownership: (issuer, org, sub)", () => {
  it("another org's principal with the same sub, or one without an org, never reaches the owner's session", async () => {
    const g = await fx.gateway();
    const ownerToken = await fx.idp.mint({ sub: "dev", org: "acme" });
    const owner = await connect(g, "own-1", ownerToken);
    owner.send({ type: "user_message", content: "mine" });
    await owner.next((f) => f.type === "assistant_message");
    for (const token of [await fx.idp.mint({ sub: "dev", org: "evil" }), await fx.idp.mint({ sub: "dev" })]) {
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
    const again = await fx.ide(g, "own-1", {
      token: ownerToken,
      headers: { "x-gatehouse-last-seq": "1" },
    });
    expect(await again.next((f) => f.type === "session_resumed")).toMatchObject({ session_id: "own-1" });
  });
});

/** Sends `request` (an HTTP request head) on a raw TCP connection; the answer, read until the server closes. */
function rawUpgrade(
  g: TestGateway,
  request: string,
): Promise<{ status: number; headers: Record<string, string>; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(new URL(g.wsBase).port), "127.0.0.1", () => socket.write(request));
    let text = "";
    socket.on("data", (chunk) => (text += chunk.toString()));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", body = ""] = text.split("\r\n\r\n");
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
      );
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = { unparsed: body };
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: parsed });
    });
  });
}

describe("a malformed handshake with a valid token (what ws itself would refuse)", () => {
  const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
  const handshake = (token: string, { method = "GET", headers = {} as Record<string, string | undefined> } = {}) => {
    const all: Record<string, string | undefined> = {
      Host: "gatehouse",
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": KEY,
      "Sec-WebSocket-Version": "13",
      Authorization: `Bearer ${token}`,
      ...headers,
    };
    const lines = Object.entries(all).flatMap(([name, value]) => (value === undefined ? [] : [`${name}: ${value}`]));
    return `${method} /ws/malformed HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
  };

  it("is refused with problem+json before authentication: no rate-limit point used, no session claimed", async () => {
    // Two attempts a minute: the refusals below would spend them (and then get 429) if they were counted.
    const g = await fx.gateway({ options: { connectionsPerIpPerMinute: 2 } });
    const token = await fx.idp.mint({ sub: "dev", org: "acme" });
    const cases: [string, Parameters<typeof handshake>[1], number, string][] = [
      ["no Sec-WebSocket-Key", { headers: { "Sec-WebSocket-Key": undefined } }, 400, "INVALID_MESSAGE"],
      ["a key that is not 16 bytes", { headers: { "Sec-WebSocket-Key": "c2hvcnQ=" } }, 400, "INVALID_MESSAGE"],
      ["POST", { method: "POST" }, 405, "METHOD_NOT_ALLOWED"],
      ["PUT", { method: "PUT" }, 405, "METHOD_NOT_ALLOWED"],
      ["version 99", { headers: { "Sec-WebSocket-Version": "99" } }, 400, "INVALID_MESSAGE"],
      ["no version", { headers: { "Sec-WebSocket-Version": undefined } }, 400, "INVALID_MESSAGE"],
      [
        "a duplicate subprotocol",
        { headers: { "Sec-WebSocket-Protocol": "gatehouse.v1, gatehouse.v1" } },
        400,
        "INVALID_MESSAGE",
      ],
      ["an empty subprotocol", { headers: { "Sec-WebSocket-Protocol": "gatehouse.v1,,x" } }, 400, "INVALID_MESSAGE"],
      [
        "a subprotocol that is not a token",
        { headers: { "Sec-WebSocket-Protocol": "gate house" } },
        400,
        "INVALID_MESSAGE",
      ],
      // An Upgrade other than websocket (h2c) is no WebSocket handshake: it is served as plain HTTP
      // (src/http/protocol-edges.test.ts). One that offers websocket badly is refused here.
      ["Upgrade websocket/7", { headers: { Upgrade: "websocket/7" } }, 400, "INVALID_MESSAGE"],
    ];
    for (const [what, request, status, code] of cases) {
      const answer = await rawUpgrade(g, handshake(token, request));
      // Before: ws's own text/html answer ("Missing or invalid Sec-WebSocket-Key header", "Invalid HTTP method"…).
      expect({ what, status: answer.status, type: answer.headers["content-type"], code: answer.body.code }).toEqual({
        what,
        status,
        type: expect.stringContaining("application/problem+json"),
        code,
      });
    }
    expect((await rawUpgrade(g, handshake(token, { method: "POST" }))).headers.allow).toBe("GET");
    expect(
      (await rawUpgrade(g, handshake(token, { headers: { "Sec-WebSocket-Version": "7" } }))).headers[
        "sec-websocket-version"
      ],
    ).toBe("13, 8");
    // No session id was claimed (before: it was held until its expiry without a socket)…
    expect(await g.gateway.list("acme")).toEqual([]);
    // …and no attempt was counted: the user's two attempts of the minute are still there.
    const c = await connect(g, "malformed", token);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    expect((await g.gateway.list("acme")).map((s) => s.session_id)).toEqual(["malformed"]);
  });

  it("a well-formed raw handshake (version 13, a valid subprotocol list) is still upgraded", async () => {
    const g = await fx.gateway();
    const token = await fx.idp.mint({ sub: "dev", org: "acme" });
    const socket = connectTcp(Number(new URL(g.wsBase).port), "127.0.0.1");
    try {
      const head = await new Promise<string>((resolve, reject) => {
        socket.once("connect", () =>
          socket.write(handshake(token, { headers: { "Sec-WebSocket-Protocol": "gatehouse.v1 , other" } })),
        );
        socket.once("data", (chunk) => resolve(chunk.toString()));
        socket.once("error", reject);
      });
      expect(head).toMatch(/^HTTP\/1\.1 101/);
      expect(head).toMatch(/Sec-WebSocket-Protocol: gatehouse\.v1\r\n/i);
    } finally {
      socket.destroy();
    }
  });
});

describe("upgrade rate limits: anonymous attempts are a separate bucket", () => {
  it("ten anonymous attempts from one address do not lock out a valid user from it", async () => {
    const g = await fx.gateway({ options: { connectionsPerIpPerMinute: 10 } });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await refusedUpgrade(`${g.wsBase}/ws/anon-${i}`, { headers: { authorization: "Bearer not-a-jwt" } });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    // The anonymous bucket is spent: more noise is throttled…
    expect(statuses.slice(10)).toEqual([429, 429]);
    // …but the user behind the same address connects.
    const c = await connect(g, "valid-after-noise", await fx.idp.mint({ sub: "carol", org: "acme" }));
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
    const g = await fx.gateway({
      withRuntime: false,
      agentRuntimeUrl: `http://127.0.0.1:${port}`,
      // The close frame waits behind the unread bytes for 500 ms (5 s by default) before the socket is cut.
      options: { maxBufferedBytes: 256 * 1024, slowConsumerCloseMs: 500 },
    });
    try {
      const c = await connect(g, "slow-never", await fx.idp.mint());
      const socket = (c.ws as unknown as { _socket: { pause(): void } })._socket;
      socket.pause(); // the IDE stops reading for good
      c.send({ type: "user_message", content: "flood me" });
      await expect.poll(closes1013, { timeout: 12_000, interval: 50 }).toBeGreaterThan(before);
    } finally {
      flood.close();
    }
  }, 20_000);
});
