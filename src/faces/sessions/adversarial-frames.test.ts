// Adversarial IDE frames: JSON nested too deep for the recursive code every relayed frame reaches (serializing it
// for the runtime, hashing and auditing its outcome), and numbers JSON.parse turns into Infinity (relayed as
// null). They are refused at the door like any invalid frame — INVALID_MESSAGE naming where, the socket open — so
// the tool call they would have answered is still open for a proper answer.
import { describe, expect, it } from "vitest";
import { sessionsFixture } from "./sessions-fixture";
import { isFinal, tokensOf } from "./test-support";

const fx = sessionsFixture();

describe("frames nested too deep, or with numbers out of range", () => {
  it("are refused with INVALID_MESSAGE; the tool call they answered stays open for a proper result", async () => {
    const g = await fx.gateway({ tokenDelayMs: 1 });
    const c = await fx.ide(g, "deep-1", { token: await fx.idp.mint() });
    c.send({ type: "user_message", content: "Создай файл main.dart", role: "user" });
    const call = await c.next((f) => f.type === "tool_call");
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");

    const depth = 200_000;
    c.send(`{"type":"tool_result","call_id":"${call.call_id}","result":${"[".repeat(depth)}${"]".repeat(depth)}}`);
    c.send(`{"type":"tool_result","call_id":"${call.call_id}","result":{"size":1e309}}`);
    // Read as a double it would be 12345678901234567000, another id than the file's.
    c.send(`{"type":"tool_result","call_id":"${call.call_id}","result":{"ids":[1,12345678901234567890]}}`);
    await expect.poll(() => c.frames.filter((f) => f.type === "error").length).toBe(3);
    const [deep, huge, rounded] = c.frames.filter((f) => f.type === "error");
    expect(rounded).toMatchObject({
      error_code: "INVALID_MESSAGE",
      details: { errors: [{ pointer: "/result/ids/1" }] },
    });
    expect(deep).toMatchObject({
      error_code: "INVALID_MESSAGE",
      details: { errors: [{ pointer: expect.stringMatching(/^\/result/) }] },
    });
    expect(String(deep?.message)).toMatch(/deeper than 32/);
    expect(huge).toMatchObject({ error_code: "INVALID_MESSAGE", details: { errors: [{ pointer: "/result/size" }] } });
    expect(g.runtime!.received.filter((r) => r.frame.type === "tool_result")).toEqual([]);

    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "file content" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: main.dart (write_file).");
  });
});

describe("control characters where a store or a log would take them", () => {
  it("a NUL in hitl_decision feedback, or a control character in an id, is INVALID_MESSAGE and decides nothing", async () => {
    const g = await fx.gateway({ tokenDelayMs: 1 });
    const c = await fx.ide(g, "nul-1", { token: await fx.idp.mint() });
    c.send({ type: "user_message", content: "Создай файл main.dart", role: "user" });
    const call = await c.next((f) => f.type === "tool_call");
    // PostgreSQL's text holds no NUL: stored as the approval's reason it failed there (500) and was kept on SQLite.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "reject", feedback: "ok\u0000x" });
    c.send({ type: "user_message", content: "hi", role: "user", message_id: "a\u0000\u001b[31m" });
    await expect.poll(() => c.frames.filter((f) => f.type === "error").length).toBe(2);
    const [nul, id] = c.frames.filter((f) => f.type === "error");
    expect(nul).toMatchObject({ error_code: "INVALID_MESSAGE", details: { errors: [{ pointer: "/feedback" }] } });
    expect(id).toMatchObject({ error_code: "INVALID_MESSAGE", details: { errors: [{ pointer: "/message_id" }] } });
    expect(c.frames.filter((f) => f.type === "ack")).toHaveLength(1); // the first user_message only
    expect(g.runtime!.received.filter((r) => r.frame.type === "hitl_decision")).toEqual([]);

    // Invisible (default-ignorable or format) characters in an id: `a\u034Fb` shows as ab.
    c.send({ type: "user_message", content: "hi", role: "user", message_id: "a\u034fb" });
    c.send({ type: "hitl_decision", call_id: `${call.call_id}\u{1d173}`, decision: "approve" });
    await expect.poll(() => c.frames.filter((f) => f.type === "error").length).toBe(4);
    const [, , cgj, beam] = c.frames.filter((f) => f.type === "error");
    expect(cgj).toMatchObject({ error_code: "INVALID_MESSAGE", details: { errors: [{ pointer: "/message_id" }] } });
    expect(beam).toMatchObject({ error_code: "INVALID_MESSAGE", details: { errors: [{ pointer: "/call_id" }] } });
    expect(c.frames.filter((f) => f.type === "ack")).toHaveLength(1);
    expect(g.runtime!.received.filter((r) => r.frame.type === "hitl_decision")).toEqual([]);

    // The call is still open for a decision without the NUL.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
  });
});

describe("a frame that repeats a member name", () => {
  it("is INVALID_MESSAGE naming the member, spelled plainly or escaped, and decides nothing", async () => {
    // JSON.parse keeps the last "decision": the IDE's log (or a proxy) reading the first saw a rejection where the
    // gateway approved. REST bodies answer 400 INVALID_JSON to the same text.
    const g = await fx.gateway({ tokenDelayMs: 1 });
    const c = await fx.ide(g, "dup-1", { token: await fx.idp.mint() });
    c.send({ type: "user_message", content: "Создай файл main.dart", role: "user" });
    const call = await c.next((f) => f.type === "tool_call");
    c.send(`{"type":"hitl_decision","call_id":"${call.call_id}","decision":"reject","decision":"approve"}`);
    c.send(`{"type":"hitl_decision","call_id":"${call.call_id}","decision":"reject","d\\u0065cision":"approve"}`);
    await expect.poll(() => c.frames.filter((f) => f.type === "error").length).toBe(2);
    for (const error of c.frames.filter((f) => f.type === "error")) {
      expect(error).toMatchObject({ error_code: "INVALID_MESSAGE", details: { errors: [{ pointer: "/" }] } });
      expect(String(error.message)).toContain('repeats the member name "decision"');
    }
    expect(c.frames.filter((f) => f.type === "ack")).toHaveLength(1); // the user_message only
    expect(g.runtime!.received.filter((r) => r.frame.type === "hitl_decision")).toEqual([]);

    // The call is still open for a decision said once.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
  });
});
