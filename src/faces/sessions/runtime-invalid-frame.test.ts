// A runtime frame that fails validation is dropped (never relayed), but the IDE is told: an error frame
// RUNTIME_FRAME_INVALID in the session's stream, and a dropped tool_call's call is answered to the runtime with a
// tool_result error, so neither side waits for a call that will never come. Found by an outside review: the
// reference runtime cut a prompt inside a surrogate pair, its tool_call was dropped, and the IDE — already told
// `waiting_approval` — waited forever. Also the reference runtime's own cut (never splits a pair).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { headOf, startAgentRuntime } from "../../../examples/agent-runtime/server";
import { isFinal, openIde, startFakeRuntime, startGateway, startIdp, type TestIdp } from "./test-support";

let idp: TestIdp;
beforeAll(async () => {
  idp = await startIdp();
});
afterAll(() => idp.close());

describe("an invalid runtime frame of a turn", () => {
  it("is dropped, the IDE hears RUNTIME_FRAME_INVALID and the runtime a tool_result error for the call", async () => {
    const heard: Record<string, unknown>[] = [];
    const fake = await startFakeRuntime((ws) => {
      ws.on("message", (data) => {
        const frame = JSON.parse(String(data)) as Record<string, unknown>;
        heard.push(frame);
        if (frame.type !== "user_message") return;
        // A lone high surrogate in the arguments (JSON escapes it as \ud83d): no Unicode text.
        ws.send(
          JSON.stringify({
            type: "tool_call",
            call_id: "call_1",
            tool_name: "run_command",
            arguments: { command: "echo \ud83d" },
            requires_approval: true,
          }),
        );
        ws.send(JSON.stringify({ type: "agent_status", status: "waiting_approval" }));
      });
    });
    const g = await startGateway(idp, {
      withRuntime: false,
      agentRuntimeUrl: fake.url,
    });
    try {
      const c = await openIde(`${g.wsBase}/ws/invalid-runtime-frame`, { token: await idp.mint({ org: "acme" }) });
      c.send({ type: "user_message", content: "run echo" });
      const err = await c.next((f) => f.type === "error");
      expect(err).toMatchObject({
        error_code: "RUNTIME_FRAME_INVALID",
        details: { frame_type: "tool_call", call_id: "call_1" },
      });
      expect(err.seq).toEqual(expect.any(Number));
      expect(c.frames.some((f) => f.type === "tool_call")).toBe(false);
      await expect
        .poll(() => heard.find((f) => f.type === "tool_result"))
        .toMatchObject({ call_id: "call_1", error: { code: "INVALID_FORMAT" } });
      c.ws.terminate();
    } finally {
      fake.close();
      await g.close();
    }
  });
});

describe("the reference runtime's prompt head", () => {
  it("never cuts a surrogate pair: a long run prompt ending in an emoji at the cut still reaches the IDE", async () => {
    const runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 1 });
    const g = await startGateway(idp, { withRuntime: false, agentRuntimeUrl: runtime.url });
    try {
      const c = await openIde(`${g.wsBase}/ws/emoji-cut`, { token: await idp.mint({ org: "acme" }) });
      // "run " + 4091 letters puts the emoji's high surrogate at unit 4095, the last one of the 4096-unit head.
      const content = `run ${"a".repeat(4091)}😀 and more`;
      c.send({ type: "user_message", content });
      const call = await c.next((f) => f.type === "tool_call" || f.type === "error");
      expect(call).toMatchObject({ type: "tool_call", tool_name: "run_command" });
      const command = (call.arguments as { command: string }).command;
      expect(command.isWellFormed()).toBe(true);
      c.send({ type: "hitl_decision", call_id: call.call_id, decision: "reject" });
      await c.next(isFinal);
      c.ws.terminate();
    } finally {
      await g.close();
      await runtime.close();
    }
  });

  it("headOf keeps whole pairs only", () => {
    expect(headOf("ab😀", 3)).toBe("ab");
    expect(headOf("ab😀", 4)).toBe("ab😀");
    expect(headOf("abc", 2)).toBe("ab");
    expect(headOf("a", 4096)).toBe("a");
  });
});
