// An ALLOW means what the http connector really sends (review R23a): no param may stand, to the upstream, for a value
// the operator fixed in the tool's url or for one the policy never judged. Runs the real engine against a recorder.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { agent, executeBody, type Receiver, registerManifest, startReceiver } from "../../../test-support/http";

const UAPK = "r23a-pay";

describe("what an http tool sends is what the policy judged", () => {
  let g: TestGatehouse;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    g = await startTestGatehouse();
    const local = { type: "http", allowed_hosts: ["127.0.0.1"], allow_private: true };
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Pay" },
      capabilities: ["pay:fixed", "pay:get", "pay:charge"],
      policy: { amount_threshold: { amount: 100, currency: "EUR" } },
      tools: {
        "pay:fixed": { connector: { ...local, method: "POST", url: `${receiver.url}/transfers?account_id=main` } },
        "pay:get": { connector: { ...local, method: "GET", url: `${receiver.url}/pay` } },
        "pay:charge": {
          amount_params: ["order.total_price"],
          amount_params_only: true,
          connector: { ...local, method: "POST", url: `${receiver.url}/charge/{amount}` },
        },
      },
    });
    await registerManifest(g, {
      uapk_id: "r23a-mail",
      agent: { id: "r23a-mail", name: "Mail" },
      capabilities: ["mail:send"],
      policy: { counterparty_blocklist: ["*@evil.example"] },
      tools: {
        "mail:send": {
          recipient_params: ["payee.email"],
          recipient_params_only: true,
          connector: { ...local, method: "POST", url: `${receiver.url}/send/{to}` },
        },
      },
    });
  });

  afterAll(async () => {
    await g?.dispose();
    await receiver?.close();
  });

  const execute = (tool: string, params: Record<string, unknown>) =>
    agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, { type: "pay", tool, params }));
  const refusedUnsent = {
    decision: "ALLOW",
    executed: false,
    result: { success: false, error_code: "INVALID_PARAMS" },
  };

  it.each(["accountId", "AccountID", "accountID", "account-id"])(
    "a body param %j beside the tool's fixed ?account_id=main is not sent (camelCase and kebab-case are account_id upstream)",
    async (name) => {
      const before = receiver.received.length;
      const reply = await execute("fixed", { [name]: "attacker", amount: 50, currency: "EUR" });
      expect(reply.body).toMatchObject(refusedUnsent);
      expect(receiver.received).toHaveLength(before);
    },
  );

  it("the same transfer without such a param goes, to the operator's account", async () => {
    const before = receiver.received.length;
    expect((await execute("fixed", { amount: 50, currency: "EUR" })).body).toMatchObject({ executed: true });
    expect(receiver.received.slice(before).map((r) => [r.method, r.path, JSON.parse(r.body)])).toEqual([
      ["POST", "/transfers", { amount: 50, currency: "EUR" }],
    ]);
  });

  it("a GET's query name with a % is not sent: `am%6Fu%6Et` is `amount` to a chain that decodes twice", async () => {
    // Judged as an unknown key (no amount: ALLOW under a 100 EUR threshold), it would go as `am%256Fu%256Et=5000`.
    const before = receiver.received.length;
    const reply = await execute("get", { "am%6Fu%6Et": 5000, currency: "EUR" });
    expect(reply.body).toMatchObject(refusedUnsent);
    expect(receiver.received).toHaveLength(before);
    // The amount under its own name is judged: over the threshold, it is not allowed.
    expect((await execute("get", { amount: 5000, currency: "EUR" })).body.decision).not.toBe("ALLOW");
  });

  it("under recipient_params_only, a recipient the url template sends is still judged (blocklisted: DENY)", async () => {
    const before = receiver.received.length;
    const send = (params: Record<string, unknown>) =>
      agent(g).post("/api/v1/gateway/execute", executeBody("r23a-mail", { type: "mail", tool: "send", params }));
    const reply = await send({ to: "boss@evil.example", payee: { email: "ann@acme.com" } });
    expect(reply.body).toMatchObject({ decision: "DENY", executed: false });
    expect(receiver.received).toHaveLength(before);
    // An allowed address in the path goes.
    expect((await send({ to: "bob@acme.com", payee: { email: "ann@acme.com" } })).body).toMatchObject({
      decision: "ALLOW",
      executed: true,
    });
    expect(receiver.received.slice(before).map((r) => r.path)).toEqual(["/send/bob%40acme.com"]);
  });

  it("under amount_params_only, an amount the url template sends is still judged (over the threshold: not run)", async () => {
    const before = receiver.received.length;
    const reply = await execute("charge", { amount: 5000, currency: "EUR", order: { total_price: 50 } });
    expect(reply.body.decision).not.toBe("ALLOW");
    expect(reply.body.executed).toBe(false);
    expect(receiver.received).toHaveLength(before);
  });
});
