// An agent that hangs up while its execute is running does not cancel the authorized call: the request may already
// have reached the upstream, so tearing it down and recording "CANCELLED, not executed" could hide an action that
// took place (and invite a retry with a new key that acts twice; outside review R20a). The call finishes within its
// connector's timeout, its real outcome is recorded, and the same idempotency key replays it. A batch whose caller
// hung up stops at its next action: the rest are not decided, so nothing is spent on them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import {
  API_KEY,
  agent,
  executeBody,
  exportedRecords,
  type Receiver,
  registerManifest,
  startReceiver,
} from "../../../test-support/http";

const UAPK = "hang-up-bot";
/** The receiver answers /slow after this long: the agents below hang up well before. */
const SLOW_MS = 1_500;

async function until<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** POSTs `body` to `path` and hangs up once the receiver has one more request for `on`. */
async function hangUpOnceReceived(g: TestGatehouse, receiver: Receiver, path: string, body: unknown, on: string) {
  const before = receiver.count(on);
  const hangUp = new AbortController();
  const pending = fetch(`${g.url}${path}`, {
    method: "POST",
    headers: { "x-api-key": API_KEY, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: hangUp.signal,
  });
  pending.catch(() => undefined);
  await until(async () => (receiver.count(on) > before ? true : undefined), `the webhook call to ${on}`);
  hangUp.abort();
}

describe("an agent that hangs up mid-execute", () => {
  let g: TestGatehouse;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver({ delayMs: SLOW_MS });
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

  it("does not cancel the sent call: its outcome is the upstream's answer, and the key replays it", async () => {
    const body = executeBody(UAPK, { type: "report", tool: "slow", params: { q: 1 } }, { idempotency_key: "hang-1" });
    await hangUpOnceReceived(g, receiver, "/api/v1/gateway/execute", body, "/slow");

    const outcome = await until(async () => {
      const { records } = await exportedRecords(g);
      return records.find((r) => r.kind === "outcome" && r.uapk_id === UAPK);
    }, "the outcome record");
    // Before, the request was torn down after it reached the receiver and the outcome said CANCELLED, not executed.
    expect(outcome.executed).toBe(true);
    expect(outcome.result).toMatchObject({ success: true });
    const retried = await agent(g).post("/api/v1/gateway/execute", body);
    expect(retried.body).toMatchObject({ executed: true, idempotent: true, result: { success: true } });
    expect(receiver.count("/slow")).toBe(1);
  });

  it("a batch whose caller hung up decides none of its later actions; a retry decides them afresh", async () => {
    const batch = {
      uapk_id: UAPK,
      agent_id: UAPK,
      actions: [
        { action_id: "a1", type: "report", tool: "slow", params: { q: 3 }, idempotency_key: "hang-b1" },
        { action_id: "a2", type: "report", tool: "fast", params: { q: 4 }, idempotency_key: "hang-b2" },
      ],
    };
    await hangUpOnceReceived(g, receiver, "/api/v1/gateway/batch", batch, "/slow");
    const batchRecords = async () => (await exportedRecords(g)).records.filter((r) => r.meta?.batch_id);
    const a1 = (await until(async () => (await batchRecords())[0], "a1's intent")).interaction_id;
    const outcomeOfA1 = async () =>
      (await exportedRecords(g)).records.find((r) => r.kind === "outcome" && r.interaction_id === a1);
    await until(outcomeOfA1, "a1's outcome");
    await new Promise((resolve) => setTimeout(resolve, 300)); // a2 would be decided right after a1's outcome
    // Before, a2 was decided after the caller had gone: ALLOW, a budget unit spent, CANCELLED recorded for good.
    expect(new Set((await batchRecords()).map((r) => r.meta.action_id))).toEqual(new Set(["a1"]));
    expect(await outcomeOfA1()).toMatchObject({ executed: true });
    expect(receiver.count("/fast")).toBe(0);

    const retried = await agent(g).post("/api/v1/gateway/batch", batch);
    expect(retried.status).toBe(200);
    expect(retried.body.results).toMatchObject([
      { action_id: "a1", executed: true, idempotent: true },
      { action_id: "a2", decision: "ALLOW", executed: true },
    ]);
    expect(retried.body.results[1].idempotent).toBeUndefined();
    expect(receiver.count("/fast")).toBe(1);
  });

  it("a caller that stays gets the tool's answer", async () => {
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "report", tool: "fast", params: { q: 2 } }),
    );
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ decision: "ALLOW", executed: true, result: { success: true } });
  });
});
