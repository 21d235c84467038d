// An agent that hangs up while its execute is still running cancels the tool call: the webhook's request is torn
// down (the receiver never gets to answer it), and the audit log's outcome says CANCELLED, not success. The signal
// that carries this is made only when a connector reads it (REST handler → engine → registry → connector), so this
// follows it through every hop; an execute whose connector never reads it still answers as before.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import {
  agent,
  API_KEY,
  executeBody,
  exportedRecords,
  registerManifest,
  startReceiver,
  type Receiver,
} from "../../../test-support/http";

const UAPK = "hang-up-bot";

async function until<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("an agent that hangs up mid-execute", () => {
  let g: TestGatehouse;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver({ delayMs: 5_000 });
    g = await startTestGatehouse();
    const webhook = { type: "webhook", allowed_hosts: ["127.0.0.1"], allow_private: true };
    const registered = await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Hang-up Bot" },
      capabilities: ["report:slow", "report:fast"],
      tools: {
        "report:slow": { connector: { ...webhook, url: `${receiver.url}/slow` } },
        "report:fast": { connector: { ...webhook, url: `${receiver.url}/fast` } },
      },
    });
    expect(registered.status).toBe(201);
  });

  afterAll(async () => {
    await g?.dispose();
    await receiver?.close();
  });

  it("cancels the tool call, and the outcome record says CANCELLED", async () => {
    const hangUp = new AbortController();
    const pending = fetch(`${g.url}/api/v1/gateway/execute`, {
      method: "POST",
      headers: { "x-api-key": API_KEY, "content-type": "application/json" },
      body: JSON.stringify(executeBody(UAPK, { type: "report", tool: "slow", params: { q: 1 } })),
      signal: hangUp.signal,
    });
    pending.catch(() => undefined);
    await until(async () => (receiver.count("/slow") > 0 ? true : undefined), "the webhook call");
    hangUp.abort();

    const outcome = await until(async () => {
      const { records } = await exportedRecords(g);
      return records.find((r) => r.kind === "outcome" && r.uapk_id === UAPK);
    }, "the outcome record");
    // Well before the receiver's 5 s answer: the call was torn down, not waited out.
    expect(outcome.executed).toBe(false);
    expect(outcome.result).toMatchObject({ success: false, error_code: "CANCELLED" });
  });

  it("a caller that stays gets the tool's answer (the signal is never aborted for it)", async () => {
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "report", tool: "fast", params: { q: 2 } }),
    );
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ decision: "ALLOW", executed: true, result: { success: true } });
    expect(receiver.count("/fast")).toBe(1);
  });
});
