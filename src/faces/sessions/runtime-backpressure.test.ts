// Backpressure toward the agent runtime: a runtime that accepts the link then stops reading must not make the
// gateway hold whatever the IDE sends. Past GATEHOUSE_WS_MAX_BUFFERED_BYTES unwritten on the link, IDE frames
// are refused (AGENT_UNAVAILABLE, reason RUNTIME_BACKLOG, never acked); an ack means the frame was written.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openIde, startFakeRuntime, startGateway, startIdp, type TestIdp } from "./test-support";

let idp: TestIdp;
beforeAll(async () => {
  idp = await startIdp();
});
afterAll(() => idp.close());

describe("a runtime that stops reading", () => {
  it("refuses IDE frames past the link's bound instead of acking and queueing them all", async () => {
    // Accepts the link, then never reads from it again.
    const stalled = await startFakeRuntime((ws) => (ws as unknown as { _socket: { pause(): void } })._socket.pause());
    const g = await startGateway(idp, {
      withRuntime: false,
      agentRuntimeUrl: stalled.url,
      options: { maxBufferedBytes: 1024 * 1024, messagesPerSessionPerMinute: 1000 },
    });
    try {
      const c = await openIde(`${g.wsBase}/ws/stalled`, { token: await idp.mint({ org: "acme" }) });
      const frameBytes = 512 * 1024;
      const sent = 80; // 40 MiB: far more than the kernel's socket buffers take on loopback
      for (let i = 0; i < sent; i++)
        c.send({ type: "user_message", content: "x".repeat(frameBytes), message_id: `m-${i}` });
      const answered = () =>
        c.frames.filter((f) => f.type === "ack" || (f.type === "error" && f.error_code === "AGENT_UNAVAILABLE")).length;
      // Every frame is answered but the few still waiting on the link (acked once written, if ever).
      await expect.poll(answered, { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(sent - 8);
      const acks = c.frames.filter((f) => f.type === "ack");
      const refusals = c.frames.filter((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE");
      expect(refusals.length).toBeGreaterThan(0);
      expect(refusals[0]).toMatchObject({ details: { reason: "RUNTIME_BACKLOG" } });
      expect(refusals[0]!.seq).toBeUndefined();
      // What was acked fits the kernel's buffers plus the bound: well under what was sent.
      expect(acks.length * frameBytes).toBeLessThan(24 * 1024 * 1024);
      const refused = new Set(refusals.map((f) => (f.details as { message_id: string }).message_id));
      for (const ack of acks) expect(refused.has(ack.message_id as string)).toBe(false);
      c.ws.terminate();
    } finally {
      stalled.close();
      await g.close();
    }
  }, 40_000);
});
