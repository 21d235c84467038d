// What an http tool's URL and query string carry is what the policy judged: an agent that ALLOWs with one recipient
// cannot have the connector read another from a spelling of the params the policy does not walk.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { agent, executeBody, registerManifest, startReceiver, type Receiver } from "../../../test-support/http";

const UAPK = "payout-bot";

describe("params that fill an http tool's url", () => {
  let g: TestGatehouse;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    g = await startTestGatehouse();
    const local = { type: "http", allowed_hosts: ["127.0.0.1"], allow_private: true };
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Payout Bot" },
      capabilities: ["payout:send", "payout:notify"],
      policy: { counterparty_allowlist: ["*@acme.com"] },
      tools: {
        "payout:send": {
          recipient_params: ["payee.mailbox"],
          connector: { ...local, method: "POST", url: `${receiver.url}/payouts/{payee.mailbox}` },
        },
        "payout:notify": { connector: { ...local, url: `${receiver.url}/notify` } },
      },
    });
  });

  afterAll(async () => {
    await g?.dispose();
    await receiver?.close();
  });

  const execute = (params: Record<string, unknown>, tool = "send") =>
    agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, { type: "payout", tool, params }));

  it("a dotted placeholder sends the recipient recipient_params judged, not a literal key of the same spelling", async () => {
    // (An address outside the allowlist under the literal key is itself refused: every address the params spell
    // out counts. So the literal key holds another allowed one here, which the path must not carry.)
    const reply = await execute({ "payee.mailbox": "bob@acme.com", payee: { mailbox: "ann@acme.com" } });
    expect(reply.body).toMatchObject({ decision: "ALLOW", executed: true });
    expect(receiver.received.map((r) => r.path)).toEqual(["/payouts/ann%40acme.com"]);
    // The literal key alone names no recipient the connector can fill the path with: refused before anything runs.
    expect((await execute({ "payee.mailbox": "boss@evil.com" })).body).toMatchObject({ decision: "DENY" });
    expect(receiver.received).toHaveLength(1);
  });

  it("a query string carries no bracketed name, which form parsers would read as a recipient the policy never saw", async () => {
    // `to=ann%40acme.com&to%5B1%5D=x` is `to: [ann@acme.com, x]` to qs, PHP and Rack: a recipient by another name.
    // (`boss@evil.com` there is refused by the policy already: every address the params spell out counts.)
    const before = receiver.received.length;
    expect((await execute({ to: "ann@acme.com", "to[1]": "boss@evil.com" }, "notify")).body.decision).toBe("DENY");
    const reply = await execute({ to: "ann@acme.com", "to[1]": "bob@acme.com" }, "notify");
    expect(reply.body).toMatchObject({
      decision: "ALLOW",
      executed: false,
      result: { success: false, error_code: "INVALID_PARAMS" },
    });
    expect(receiver.received).toHaveLength(before);
  });
});
