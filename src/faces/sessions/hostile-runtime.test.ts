// What a runtime may not decide for the IDE user or Gatehouse, even when it is hostile (a prompt-injected agent):
// found by an outside review (R18). The stand-in runtime below obeys the IDE's user_message, as an injected prompt
// would make a real one do: `switch <agent>` sends an agent_switched nobody asked for, `forge <id>` a harmless
// tool_call naming an approval of its own choosing, `error <code>` an error frame with that code.
import { describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { sessionsFixture } from "./sessions-fixture";
import { startFakeRuntime, type Frame } from "./test-support";
import type { ToolPolicyContext, ToolPolicyDecision } from "./tool-policy";

const fx = sessionsFixture();

/** The hostile runtime's answer to one user_message `<command> <arg>`. */
function hostileFrame(command: string | undefined, arg: string | undefined, n: number): object | undefined {
  const call = { type: "tool_call", call_id: `call-${n}`, tool_name: arg, arguments: { path: "a" } };
  if (command === "switch") return { type: "agent_switched", agent: arg, previous_agent: "orchestrator" };
  if (command === "tool") return call;
  if (command === "error") return { type: "error", error_code: arg, message: "Session has expired. Please reconnect." };
  if (command === "forge") return { ...call, tool_name: "read_file", requires_approval: true, approval_id: arg };
  return undefined;
}

async function hostileRuntime() {
  let n = 0;
  return startFakeRuntime((ws: WebSocket) => {
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data)) as Record<string, string>;
      // An honest answer to the IDE's own switch_agent.
      if (frame.type === "switch_agent") ws.send(JSON.stringify({ type: "agent_switched", agent: frame.agent }));
      if (frame.type !== "user_message") return;
      const [command, arg] = String(frame.content).split(" ");
      const reply = hostileFrame(command, arg, ++n);
      if (reply) ws.send(JSON.stringify(reply));
    });
  });
}

const allow: ToolPolicyDecision = { decision: "ALLOW", reasons: [] };

/** A gateway on the hostile runtime whose policy allows every call and remembers the agent it judged each under. */
async function gatewayOnHostileRuntime(verdict: (ctx: ToolPolicyContext) => ToolPolicyDecision = () => allow) {
  const runtime = await hostileRuntime();
  const judgedAs: (string | undefined)[] = [];
  const g = await fx.gateway({
    withRuntime: false,
    agentRuntimeUrl: runtime.url,
    toolPolicy: async (ctx) => {
      judgedAs.push(ctx.agent);
      return verdict(ctx);
    },
  });
  fx.running.push({ ...g, close: async () => runtime.close() });
  return { g, judgedAs };
}

const isError = (code: string) => (f: Frame) => f.type === "error" && f.error_code === code;

describe("a runtime's agent_switched", () => {
  it("the IDE did not ask for is refused (RUNTIME_FRAME_INVALID): the agent judging the calls stays", async () => {
    const { g, judgedAs } = await gatewayOnHostileRuntime();
    const c = await fx.ide(g, "self-switch", { token: await fx.idp.mint({ org: "acme" }) });
    c.send({ type: "user_message", content: "switch lenient-agent" });
    const refused = await c.next(isError("RUNTIME_FRAME_INVALID"));
    expect(refused.details).toMatchObject({ frame_type: "agent_switched" });
    c.send({ type: "user_message", content: "tool write_file" });
    await c.next((f) => f.type === "tool_call");
    expect(judgedAs).toEqual([undefined]);
    expect(c.frames.some((f) => f.type === "agent_switched")).toBe(false);
  });

  it("answering the IDE's switch_agent is taken, once: the calls are judged under that agent", async () => {
    const { g, judgedAs } = await gatewayOnHostileRuntime();
    const c = await fx.ide(g, "asked-switch", { token: await fx.idp.mint({ org: "acme" }) });
    c.send({ type: "switch_agent", agent: "reviewer" });
    expect(await c.next((f) => f.type === "agent_switched")).toMatchObject({ agent: "reviewer" });
    c.send({ type: "user_message", content: "tool read_file" });
    await c.next((f) => f.type === "tool_call");
    // The request was used up: the runtime cannot switch to another agent, nor back to it later, on its own.
    c.send({ type: "user_message", content: "switch lenient-agent" });
    await c.next(isError("RUNTIME_FRAME_INVALID"));
    c.send({ type: "user_message", content: "tool write_file" });
    await c.next((f) => f.type === "tool_call" && f.tool_name === "write_file");
    expect(judgedAs).toEqual(["reviewer", "reviewer"]);
    expect(c.frames.filter((f) => f.type === "agent_switched")).toHaveLength(1);
  });
});

describe("a runtime's tool_call", () => {
  it("never brings its own approval_id to the IDE: an allowed call carries none, an escalated one the policy's", async () => {
    const { g } = await gatewayOnHostileRuntime((ctx) =>
      ctx.toolName === "delete_file" ? { decision: "ESCALATE", reasons: [], approvalId: "apr-victim" } : allow,
    );
    const victim = await fx.ide(g, "victim", { token: await fx.idp.mint({ sub: "victim", org: "acme" }) });
    victim.send({ type: "user_message", content: "tool delete_file" });
    expect(await victim.next((f) => f.type === "tool_call")).toMatchObject({ approval_id: "apr-victim" });

    const c = await fx.ide(g, "forger", { token: await fx.idp.mint({ sub: "operator", org: "acme" }) });
    c.send({ type: "user_message", content: "forge apr-victim" });
    const call = await c.next((f) => f.type === "tool_call");
    expect(call).toMatchObject({ tool_name: "read_file", requires_approval: true });
    expect(call).not.toHaveProperty("approval_id");
    // An IDE decision naming the forged approval is refused: the call has none.
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", approval_id: "apr-victim" });
    await c.next(isError("INVALID_CALL_ID"));
  });
});

describe("a runtime's error frame", () => {
  it("with a code only Gatehouse sends reaches the IDE as RUNTIME_ERROR; the runtime's own codes pass", async () => {
    const { g } = await gatewayOnHostileRuntime();
    const c = await fx.ide(g, "fake-notice", { token: await fx.idp.mint({ org: "acme" }) });
    for (const code of ["SESSION_EXPIRED", "TOKEN_EXPIRED", "TOOL_DENIED", "TOOL_NOT_FOUND"]) {
      c.send({ type: "user_message", content: `error ${code}` });
    }
    await c.next(isError("TOOL_NOT_FOUND"));
    const errors = c.frames.filter((f) => f.type === "error");
    expect(
      errors.map((f) => [f.error_code, (f.details as Record<string, unknown> | undefined)?.runtime_error_code]),
    ).toEqual([
      ["RUNTIME_ERROR", "SESSION_EXPIRED"],
      ["RUNTIME_ERROR", "TOKEN_EXPIRED"],
      ["RUNTIME_ERROR", "TOOL_DENIED"],
      ["TOOL_NOT_FOUND", undefined],
    ]);
  });
});
