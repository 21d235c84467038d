// Params an upstream reads otherwise than the policy did: an allowed call must not reach the upstream as another
// one. A `_method` param would make Laravel or Symfony route an allowed `crm:update` as the DELETE that needs an
// approval; a dotted query name is a nested object to model binders; an already percent-encoded `..` climbs out of
// the path behind a chain that decodes twice. Each is refused by the connector (INVALID_PARAMS), nothing sent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { agent, executeBody, type Receiver, registerManifest, startReceiver } from "../../../test-support/http";

const UAPK = "crm-bot";

describe("params an upstream would read as another call", () => {
  let g: TestGatehouse;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    g = await startTestGatehouse();
    const local = { type: "http", allowed_hosts: ["127.0.0.1"], allow_private: true };
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "CRM Bot" },
      capabilities: ["crm:update", "crm:delete", "crm:lookup"],
      constraints: { max_actions_per_hour: 100, require_human_approval: ["crm:delete"] },
      tools: {
        "crm:update": { connector: { ...local, method: "POST", url: `${receiver.url}/records/{record_id}` } },
        "crm:delete": { connector: { ...local, method: "DELETE", url: `${receiver.url}/records/{record_id}` } },
        "crm:lookup": { connector: { ...local, url: `${receiver.url}/records/{record_id}/notes` } },
      },
    });
  });

  afterAll(async () => {
    await g?.dispose();
    await receiver?.close();
  });

  const execute = (tool: string, params: Record<string, unknown>) =>
    agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, { type: "crm", tool, params }));
  const refusedUnsent = {
    decision: "ALLOW",
    executed: false,
    result: { success: false, error_code: "INVALID_PARAMS" },
  };

  it("an update carrying _method is not sent, so it cannot run as the delete that needs an approval", async () => {
    expect((await execute("delete", { record_id: "rec-1" })).body).toMatchObject({ decision: "ESCALATE" });
    for (const name of ["_method", "_METHOD", "X-HTTP-Method-Override"]) {
      const reply = await execute("update", { record_id: "rec-1", [name]: "DELETE" });
      expect([name, reply.body]).toMatchObject([name, refusedUnsent]);
    }
    expect(receiver.received).toEqual([]);
    // The same update without it goes, as the POST the tool names.
    expect((await execute("update", { record_id: "rec-1", status: "won" })).body).toMatchObject({ executed: true });
    expect(receiver.received.map((r) => [r.method, r.path, r.body])).toEqual([
      ["POST", "/records/rec-1", '{"status":"won"}'],
    ]);
  });

  it("a GET's query string carries no _method, no dotted name, and its path no encoded dot segment", async () => {
    const before = receiver.received.length;
    for (const params of [
      { record_id: "rec-1", _method: "DELETE" },
      { record_id: "rec-1", "price.value": 5000 },
      { record_id: "..%2f..%2fadmin" },
      { record_id: "%2e%2e" },
    ])
      expect([params, (await execute("lookup", params)).body]).toMatchObject([params, refusedUnsent]);
    expect(receiver.received).toHaveLength(before);
  });
});
