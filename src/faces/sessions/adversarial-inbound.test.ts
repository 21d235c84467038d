// Adversarial: IDE frames wait their turn while an earlier one is handled (here: connecting to a runtime that
// does not answer). A client that keeps sending meanwhile must be slowed down by TCP, not read into memory.
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openIde, startGateway, startIdp, type TestIdp } from "./test-support";

let idp: TestIdp;
let blackhole: Server;
const held: Socket[] = [];

beforeAll(async () => {
  idp = await startIdp();
  // Accepts TCP connections and never answers the WebSocket handshake: the runtime link waits for its timeout.
  blackhole = createServer((socket) => void held.push(socket));
  await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", r));
});
afterAll(async () => {
  await idp.close();
  for (const socket of held) socket.destroy();
  await new Promise((r) => blackhole.close(r));
});

describe("inbound back-pressure", () => {
  it("stops reading an IDE whose frames queue up behind a slow one", async () => {
    const port = (blackhole.address() as { port: number }).port;
    const g = await startGateway(idp, {
      withRuntime: false,
      agentRuntimeUrl: `ws://127.0.0.1:${port}`,
      options: { runtimeConnectTimeoutMs: 4000 },
    });
    const c = await openIde(`${g.wsBase}/ws/pressure`, { token: await idp.mint() });
    try {
      c.send({ type: "user_message", content: "waits for the runtime" });
      const big = JSON.stringify({ type: "user_message", content: "x".repeat(1024 * 1024 - 100) });
      for (let i = 0; i < 200; i++) c.ws.send(big);
      await new Promise((r) => setTimeout(r, 1500));
      // Most of the 200 MiB is still on the client's side: Gatehouse read a bounded amount of it (it read all of
      // it, and held it, before).
      expect(c.ws.bufferedAmount).toBeGreaterThan(150 * 1024 * 1024);
      const unavailable = await c.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", 8000);
      expect(unavailable).toBeTruthy();
    } finally {
      c.ws.terminate();
      await g.close();
    }
  }, 20_000);
});
