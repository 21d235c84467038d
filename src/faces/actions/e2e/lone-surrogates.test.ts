// A lone surrogate (`"\ud800"` in JSON) is no Unicode text: JavaScript hashed an audit record holding one as sent,
// while its text column stored U+FFFD, so one execute naming `agent_id: "bot\ud800"` (a DENY was enough) left a
// record that no longer matched its hash, and the org's chain failed verification from then on, on both stores.
// PostgreSQL also took `k\ud800` and `k\ufffd` for one idempotency key. Every body holding such a string, as a
// value or as a member's name, is now a 400 problem naming it; nothing is recorded and the chain verifies.
import { describe, expect, it } from "vitest";
import { gatehouseBackends, gatehouseOn } from "../../../test-support/backends";
import { agent, executeBody, operator, type Reply } from "../../../test-support/http";

const BOT = "surrogate-bot";
const manifest = {
  uapk_id: BOT,
  agent: { id: BOT, name: BOT },
  capabilities: ["email:send"],
  tools: { "email:send": { connector: { type: "echo" } } },
};
const send = (extra: Record<string, unknown> = {}, params: Record<string, unknown> = {}) => ({
  ...executeBody(BOT, { type: "email", tool: "send", params: { to: "ann@acme.example", ...params } }),
  ...extra,
});

describe.each(await gatehouseBackends("lone surrogates"))("lone surrogates in a request ($name)", (backend) => {
  const gatehouse = gatehouseOn(backend, [manifest]);

  const expectRefused = (reply: Reply, pointer: string) => {
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body).toMatchObject({ code: "VALIDATION_FAILED" });
    expect(reply.body.errors).toEqual([{ pointer, message: expect.stringContaining("not well-formed Unicode") }]);
    // The refusal does not hold what it refuses: every string of it is well-formed Unicode.
    expect(reply.body.detail).toContain(pointer);
    JSON.parse(reply.text, (_key, value) => {
      if (typeof value === "string") expect(value.isWellFormed(), value).toBe(true);
      return value;
    });
  };

  it("is refused wherever it sits in an execute or evaluate; nothing is recorded and the chain verifies", async () => {
    const g = gatehouse();
    const before = (await operator(g).get("/interactions")).body.items.length;
    const cases: [Record<string, unknown>, string][] = [
      [send({ agent_id: `${BOT}\ud800` }), "/body/agent_id"],
      [send({ uapk_id: `${BOT}\udfff` }), "/body/uapk_id"],
      [send({ uapk_id: "no-such-manifest\ud800" }), "/body/uapk_id"],
      [send({ idempotency_key: "k\ud800" }), "/body/idempotency_key"],
      [send({}, { to: "ann\ud800@acme.example" }), "/body/action/params/to"],
      // A member's name is written with its surrogate spelled out (`\udc00` as text): the answer stays I-JSON.
      [send({}, { "cc\udc00": "x@evil.example" }), "/body/action/params/cc\\udc00"],
      [send({}, { "\udc00": 1 }), "/body/action/params/\\udc00"],
      [send({ context: { user: "u\ud83d" } }), "/body/context/user"],
    ];
    for (const [body, pointer] of cases)
      for (const path of ["/api/v1/gateway/execute", "/api/v1/gateway/evaluate"])
        expectRefused(await agent(g).post(path, body), pointer);
    expect((await operator(g).get("/interactions")).body.items.length).toBe(before);
    // A paired surrogate (an emoji) is text like any other.
    const emoji = await agent(g).post("/api/v1/gateway/execute", send({}, { subject: "hi \ud83d\ude00" }));
    expect(emoji.body).toMatchObject({ decision: "ALLOW", executed: true });
    expect((await operator(g).get("/interactions/verify")).body).toMatchObject({ valid: true });
  });

  it("is refused in an operator's body too (a manifest, an approval's reason)", async () => {
    const g = gatehouse();
    expectRefused(
      await operator(g).post("/manifests", { ...manifest, uapk_id: "other", agent: { id: "a\ud800", name: "a" } }),
      "/body/agent/id",
    );
    expectRefused(await operator(g).post("/approvals/appr-x/approve", { reason: "ok\ud800" }), "/body/reason");
  });
});
