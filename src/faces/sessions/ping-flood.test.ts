// An IDE's own WebSocket pings: `ws` answers each with a pong by itself, so pings are bounded per socket (a flood is
// closed 1008 after its allowance; a keepalive never is), and the pongs queued for a client that does not read count
// towards the slow-consumer bound like any other byte (1013).
import { describe, expect, it } from "vitest";
import { registry as metricsRegistry } from "../../core/metrics/registry";
import { CloseCode } from "./close-codes";
import { pingAllowance } from "./ping-allowance";
import { sessionsFixture } from "./sessions-fixture";
import { startFakeRuntime, type IdeClient, type TestGateway } from "./test-support";

const fx = sessionsFixture();

async function ide(g: TestGateway, sessionId: string, headers: Record<string, string> = {}) {
  return fx.ide(g, sessionId, { token: await fx.idp.mint(), headers });
}

const closesOf = async (code: number) =>
  (await metricsRegistry.getSingleMetric("gatehouse_ws_closes_total")!.get()).values.find(
    (v) => v.labels.code === String(code),
  )?.value ?? 0;

/** Sends `count` pings, a few per turn of the event loop: paced so that `ws`'s own cap on unflushed pongs never trips. */
async function pingPaced(c: IdeClient, count: number): Promise<void> {
  for (let sent = 0; sent < count && c.ws.readyState === c.ws.OPEN; sent += 10) {
    for (let i = 0; i < 10; i++) c.ws.ping();
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe("the ping allowance of a socket", () => {
  it("never refuses a keepalive: a ping every second, or every 5 s, for an hour", () => {
    for (const everyMs of [1_000, 5_000]) {
      const pings = pingAllowance(60, 0);
      for (let at = 0; at < 3_600_000; at += everyMs) expect(pings.take(at)).toBe(true);
    }
  });

  it("takes a burst of half a minute's pings, then one per 60/perMinute s", () => {
    const pings = pingAllowance(60, 0);
    for (let i = 0; i < 30; i++) expect(pings.take(0)).toBe(true);
    expect(pings.take(0)).toBe(false);
    expect(pings.take(500)).toBe(false);
    expect(pings.take(1_000)).toBe(true);
    expect(pings.take(1_000)).toBe(false);
  });
});

describe("IDE pings", () => {
  it("a ping flood is closed 1008 after the allowance: the gateway wrote a bounded number of pongs", async () => {
    const g = await fx.gateway();
    const c = await ide(g, "ping-flood");
    c.send({ type: "user_message", content: "hi", message_id: "m-1" });
    await c.next((f) => f.type === "ack" && f.message_id === "m-1");
    const before = await closesOf(CloseCode.POLICY_VIOLATION);
    let pongs = 0;
    c.ws.on("pong", () => pongs++);
    await pingPaced(c, 2_000);
    const closed = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r("still open"), 2_000))]);
    expect(closed).toMatchObject({ code: CloseCode.POLICY_VIOLATION, reason: expect.stringContaining("pings") });
    // The default burst (30), what was refilled meanwhile, and the ping that overdrew it: not one pong per ping.
    expect(pongs).toBeLessThan(40);
    await expect.poll(() => closesOf(CloseCode.POLICY_VIOLATION)).toBe(before + 1);
    // Gatehouse closed it: the session stays resumable.
    const lastSeq = String(c.frames.filter((f) => f.seq !== undefined).at(-1)!.seq);
    const again = await ide(g, "ping-flood", { "x-gatehouse-last-seq": lastSeq });
    await again.next((f) => f.type === "session_resumed");
  });

  it("a keepalive within the allowance is answered and the socket stays open", async () => {
    const g = await fx.gateway({ options: { pingsPerMinute: 60 } });
    const c = await ide(g, "ping-keepalive");
    let pongs = 0;
    c.ws.on("pong", () => pongs++);
    // The whole burst at once (an IDE's keepalive after a stall), then one a second.
    for (let i = 0; i < 30; i++) c.ws.ping();
    await expect.poll(() => pongs).toBe(30);
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 1_050));
      c.ws.ping();
    }
    await expect.poll(() => pongs).toBe(32);
    c.send({ type: "user_message", content: "still here", message_id: "m-2" });
    await c.next((f) => f.type === "ack" && f.message_id === "m-2");
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it("a pong queued for an IDE that stopped reading, past the buffered-bytes cap, closes it 1013", async () => {
    // One 12 MB frame: more than the kernel's socket buffers take, so most of it waits in the gateway. It passed the
    // cap check before it was written (nothing waited then) and no frame follows it: only the pong comes next.
    const runtime = await startFakeRuntime((link) =>
      link.on("message", () =>
        link.send(JSON.stringify({ type: "assistant_message", token: "x".repeat(12 * 1024 * 1024), is_final: true })),
      ),
    );
    try {
      const g = await fx.gateway({
        withRuntime: false,
        agentRuntimeUrl: runtime.url,
        options: { maxBufferedBytes: 1024 * 1024, slowConsumerCloseMs: 500 },
      });
      const c = await ide(g, "ping-unread");
      const before = await closesOf(CloseCode.TRY_AGAIN_LATER);
      const socket = (c.ws as unknown as { _socket: { pause(): void } })._socket;
      socket.pause(); // the IDE stops reading
      c.send({ type: "user_message", content: "something big" });
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await closesOf(CloseCode.TRY_AGAIN_LATER)).toBe(before);
      c.ws.ping(); // a keepalive, queued behind the unread megabytes
      await expect.poll(() => closesOf(CloseCode.TRY_AGAIN_LATER), { timeout: 3_000 }).toBe(before + 1);
    } finally {
      runtime.close();
    }
  }, 15_000);
});
