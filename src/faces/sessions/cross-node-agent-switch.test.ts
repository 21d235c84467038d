// A runtime's agent_switched is taken only as the answer to a switch_agent the IDE sent (./agent-switch.ts), also
// when the IDE moves between two nodes sharing Redis: asked on one node, answered while the IDE is on the other.
// The request is remembered on the runtime link it was written to, on the node holding that link, where the answer
// arrives, whichever node the IDE is on (IDE frames are handed to the holder: ./cross-node.ts), so both meet there;
// a request does not outlive its link (a node taking the session over opens its own). The confirmed agent does: it
// is shared through Redis, and the node opening the session's next link judges its calls under it. The stand-in
// runtime answers when the test tells it to, on the link the gateway opened last.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { NODE_TTL_MS } from "./cluster";
import { redisSessionsFixture } from "./redis-fixture";
import { type Frame, type IdeClient, startFakeRuntime, type TestGateway } from "./test-support";
import type { ToolPolicyContext } from "./tool-policy";

const fx = redisSessionsFixture("agent-switch");

/** A runtime that does what the test says on its links; it acks nothing and answers nothing on its own. */
async function obedientRuntime() {
  const links: WebSocket[] = [];
  const received: Frame[] = [];
  const runtime = await startFakeRuntime((ws) => {
    links.push(ws);
    ws.on("message", (data) => received.push(JSON.parse(String(data)) as Frame));
  });
  fx.running.push({ close: async () => runtime.close() } as TestGateway);
  /** The link the gateway opened last (the one a node holds now). */
  const current = () => links.at(-1)!;
  let calls = 0;
  return {
    url: runtime.url,
    received,
    links,
    /** The runtime says it switched to `agent` (on the current link). */
    switched: (agent: string) => current().send(JSON.stringify({ type: "agent_switched", agent })),
    /** The runtime asks for a tool call (the policy judges it under the session's agent). */
    toolCall: () =>
      current().send(
        JSON.stringify({ type: "tool_call", call_id: `call-${++calls}`, tool_name: "read_file", arguments: {} }),
      ),
  };
}

/**
 * Two nodes on one Redis and one runtime; the agent each tool call was judged under, on either node. `redisOfA`:
 * node A's own Redis connection (to cut it off).
 */
async function twoNodes(redisOfA: Redis = fx.redis) {
  const runtime = await obedientRuntime();
  const judgedAs: (string | undefined)[] = [];
  const toolPolicy = async (ctx: ToolPolicyContext) => {
    judgedAs.push(ctx.agent);
    return { decision: "ALLOW" as const, reasons: [] };
  };
  const node = (redis: Redis) =>
    fx.gateway({
      redis,
      withRuntime: false,
      agentRuntimeUrl: runtime.url,
      toolPolicy,
      // A node cut off that long is gone (take-over): the shortest bound, the presence's TTL, keeps these tests short.
      options: { redisKeyPrefix: fx.prefix, nodeGoneAfterMs: NODE_TTL_MS },
    });
  return { a: await node(redisOfA), b: await node(fx.redis), runtime, judgedAs };
}

const pipelined = () => new Promise((r) => setTimeout(r, 200)); // the store's writes are pipelined, not awaited
const isAnswer = (f: Frame) =>
  f.type === "agent_switched" || (f.type === "error" && f.error_code === "RUNTIME_FRAME_INVALID");

/** The IDE leaves `from` and resumes the session on `to`, missing nothing. */
async function moveTo(to: TestGateway, from: IdeClient, sessionId: string, token: string): Promise<IdeClient> {
  await pipelined();
  const lastSeq = Math.max(0, ...from.frames.map((f) => f.seq ?? 0));
  from.ws.terminate();
  const moved = await fx.ide(to, sessionId, { token, headers: { "x-gatehouse-last-seq": String(lastSeq) } });
  await moved.next((f) => f.type === "session_resumed");
  return moved;
}

/** The agent the next tool call is judged under. */
async function judgedNext(nodes: Awaited<ReturnType<typeof twoNodes>>, c: IdeClient) {
  const before = c.frames.filter((f) => f.type === "tool_call").length;
  nodes.runtime.toolCall();
  await c.next(() => c.frames.filter((f) => f.type === "tool_call").length > before);
  return nodes.judgedAs.at(-1);
}

describe("an agent_switched across two nodes", () => {
  it("asked on A, answered while the IDE is on B: taken, and the calls are judged under that agent", async () => {
    const nodes = await twoNodes();
    const sessionId = `switch-a-b-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const onA = await fx.ide(nodes.a, sessionId, { token });
    onA.send({ type: "switch_agent", agent: "reviewer", message_id: "sw" });
    await onA.next((f) => f.type === "ack" && f.message_id === "sw");
    const onB = await moveTo(nodes.b, onA, sessionId, token);

    nodes.runtime.switched("reviewer");
    expect(await onB.next(isAnswer)).toMatchObject({ type: "agent_switched", agent: "reviewer" });
    expect(await judgedNext(nodes, onB)).toBe("reviewer");
    // Used up: the same answer again is the runtime's own choice, refused on B's IDE; the agent stays.
    nodes.runtime.switched("reviewer");
    expect(
      await onB.next((f) => isAnswer(f) && f.seq! > onB.frames.find((g) => g.type === "agent_switched")!.seq!),
    ).toMatchObject({ error_code: "RUNTIME_FRAME_INVALID", details: { frame_type: "agent_switched" } });
    expect(await judgedNext(nodes, onB)).toBe("reviewer");
  });

  it("asked on B (the link on A), answered while the IDE is back on A: taken", async () => {
    const nodes = await twoNodes();
    const sessionId = `switch-b-a-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const first = await fx.ide(nodes.a, sessionId, { token });
    first.send({ type: "user_message", content: "hello", message_id: "hi" });
    await first.next((f) => f.type === "ack" && f.message_id === "hi");
    const onB = await moveTo(nodes.b, first, sessionId, token);
    onB.send({ type: "switch_agent", agent: "coder", message_id: "sw" });
    await onB.next((f) => f.type === "ack" && f.message_id === "sw");
    // The frame went to the link on A: one link, one runtime connection.
    expect(nodes.runtime.links).toHaveLength(1);
    expect(nodes.runtime.received.map((f) => f.type)).toEqual(["user_message", "switch_agent"]);
    const backOnA = await moveTo(nodes.a, onB, sessionId, token);

    nodes.runtime.switched("coder");
    expect(await backOnA.next(isAnswer)).toMatchObject({ type: "agent_switched", agent: "coder" });
    expect(await judgedNext(nodes, backOnA)).toBe("coder");
  });

  it("never asked, on either node: refused on the IDE's node, and the agent stays", async () => {
    const nodes = await twoNodes();
    const sessionId = `switch-none-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const onA = await fx.ide(nodes.a, sessionId, { token });
    // Asked for another agent than the one the runtime then names.
    onA.send({ type: "switch_agent", agent: "reviewer", message_id: "sw" });
    await onA.next((f) => f.type === "ack" && f.message_id === "sw");
    nodes.runtime.switched("lenient");
    expect(await onA.next(isAnswer)).toMatchObject({ error_code: "RUNTIME_FRAME_INVALID" });

    const onB = await moveTo(nodes.b, onA, sessionId, token);
    nodes.runtime.switched("lenient");
    expect(await onB.next(isAnswer)).toMatchObject({
      error_code: "RUNTIME_FRAME_INVALID",
      details: { frame_type: "agent_switched" },
    });
    expect(await judgedNext(nodes, onB)).toBeUndefined();
    expect(onB.frames.some((f) => f.type === "agent_switched")).toBe(false);

    // Asked on B now: that one is taken.
    onB.send({ type: "switch_agent", agent: "lenient", message_id: "sw-2" });
    await onB.next((f) => f.type === "ack" && f.message_id === "sw-2");
    nodes.runtime.switched("lenient");
    expect(await onB.next((f) => f.type === "agent_switched")).toMatchObject({ agent: "lenient" });
    expect(await judgedNext(nodes, onB)).toBe("lenient");
  });
});

describe("a switch asked over a runtime link that is lost", () => {
  it("is not answered by the next link (one node): that agent_switched is refused, the IDE asks again", async () => {
    const nodes = await twoNodes();
    const sessionId = `switch-relinked-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const c = await fx.ide(nodes.a, sessionId, { token });
    c.send({ type: "switch_agent", agent: "reviewer", message_id: "sw" });
    await c.next((f) => f.type === "ack" && f.message_id === "sw");
    nodes.runtime.links[0]!.terminate(); // the runtime goes away before it answered
    await c.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE");
    c.send({ type: "user_message", content: "still there?", message_id: "m" });
    await c.next((f) => f.type === "ack" && f.message_id === "m");
    expect(nodes.runtime.links).toHaveLength(2);

    nodes.runtime.switched("reviewer");
    expect(await c.next(isAnswer)).toMatchObject({
      error_code: "RUNTIME_FRAME_INVALID",
      details: { frame_type: "agent_switched" },
    });
    expect(await judgedNext(nodes, c)).toBeUndefined();
    c.send({ type: "switch_agent", agent: "reviewer", message_id: "sw-again" });
    await c.next((f) => f.type === "ack" && f.message_id === "sw-again");
    nodes.runtime.switched("reviewer");
    expect(await c.next((f) => f.type === "agent_switched")).toMatchObject({ agent: "reviewer" });
    expect(await judgedNext(nodes, c)).toBe("reviewer");
  });

  it("is not answered on the node that takes the session over (A cut off): refused there, until asked on B", async () => {
    const ownOfA = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    ownOfA.on("error", () => undefined);
    const nodes = await twoNodes(ownOfA);
    const sessionId = `switch-takeover-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const onA = await fx.ide(nodes.a, sessionId, { token });
    onA.send({ type: "switch_agent", agent: "reviewer", message_id: "sw" });
    await onA.next((f) => f.type === "ack" && f.message_id === "sw");
    const onB = await moveTo(nodes.b, onA, sessionId, token);
    try {
      ownOfA.disconnect(); // node A is cut off: B takes the session over, and its next frame opens a link on B
      await onB.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", NODE_TTL_MS + 5_000);
      onB.send({ type: "user_message", content: "still there?", message_id: "m" });
      await onB.next((f) => f.type === "ack" && f.message_id === "m");
      expect(nodes.runtime.links).toHaveLength(2);

      nodes.runtime.switched("reviewer");
      expect(await onB.next(isAnswer)).toMatchObject({ error_code: "RUNTIME_FRAME_INVALID" });
      expect(await judgedNext(nodes, onB)).toBeUndefined();
      onB.send({ type: "switch_agent", agent: "reviewer", message_id: "sw-b" });
      await onB.next((f) => f.type === "ack" && f.message_id === "sw-b");
      nodes.runtime.switched("reviewer");
      expect(await onB.next((f) => f.type === "agent_switched")).toMatchObject({ agent: "reviewer" });
      expect(await judgedNext(nodes, onB)).toBe("reviewer");
    } finally {
      ownOfA.disconnect();
    }
  });
});

describe("the session's agent on the node that opens its next runtime link", () => {
  // Only the node holding the link judges tool calls, under the session's agent as that node knows it. A switch
  // confirmed on another node must reach it: a node that never held the session knows none, one that held it
  // earlier knows the agent of then.
  it("after a takeover (A cut off): B judges the calls under the agent confirmed on A", async () => {
    const ownOfA = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    ownOfA.on("error", () => undefined);
    const nodes = await twoNodes(ownOfA);
    const sessionId = `agent-takeover-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const onA = await fx.ide(nodes.a, sessionId, { token });
    onA.send({ type: "switch_agent", agent: "reviewer", message_id: "sw" });
    await onA.next((f) => f.type === "ack" && f.message_id === "sw");
    nodes.runtime.switched("reviewer");
    await onA.next((f) => f.type === "agent_switched");
    expect(await judgedNext(nodes, onA)).toBe("reviewer");
    const onB = await moveTo(nodes.b, onA, sessionId, token);
    try {
      ownOfA.disconnect(); // node A is cut off: B takes the session over, and its next frame opens a link on B
      await onB.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", NODE_TTL_MS + 5_000);
      onB.send({ type: "user_message", content: "still there?", message_id: "m" });
      await onB.next((f) => f.type === "ack" && f.message_id === "m");
      expect(nodes.runtime.links).toHaveLength(2);
      expect(await judgedNext(nodes, onB)).toBe("reviewer");
    } finally {
      ownOfA.disconnect();
    }
  });

  it("a node that held the session earlier judges under the agent confirmed since on the other, not its own", async () => {
    const nodes = await twoNodes();
    const sessionId = `agent-stale-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const onA = await fx.ide(nodes.a, sessionId, { token });
    onA.send({ type: "switch_agent", agent: "reviewer", message_id: "sw-1" });
    await onA.next((f) => f.type === "ack" && f.message_id === "sw-1");
    nodes.runtime.switched("reviewer");
    await onA.next((f) => f.type === "agent_switched");

    // The runtime drops A's link while the IDE is on B: B's next frame opens the link on B (a node new to it).
    const onB = await moveTo(nodes.b, onA, sessionId, token);
    nodes.runtime.links[0]!.terminate();
    await onB.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE");
    onB.send({ type: "switch_agent", agent: "coder", message_id: "sw-2" });
    await onB.next((f) => f.type === "ack" && f.message_id === "sw-2");
    expect(nodes.runtime.links).toHaveLength(2);
    nodes.runtime.switched("coder");
    await onB.next((f) => f.type === "agent_switched" && f.agent === "coder");
    expect(await judgedNext(nodes, onB)).toBe("coder");

    // Back on A, which still remembers "reviewer": the runtime drops B's link, A opens the next one.
    const backOnA = await moveTo(nodes.a, onB, sessionId, token);
    nodes.runtime.links[1]!.terminate();
    await backOnA.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE" && f.seq! > lastSeqOf(onB));
    backOnA.send({ type: "user_message", content: "still there?", message_id: "m" });
    await backOnA.next((f) => f.type === "ack" && f.message_id === "m");
    expect(nodes.runtime.links).toHaveLength(3);
    expect(await judgedNext(nodes, backOnA)).toBe("coder");
  });
});

describe("the runtime drops the link while the IDE is on the other node", () => {
  it("the node opening the next link, new to the session, judges under the agent confirmed on the first", async () => {
    const nodes = await twoNodes();
    const sessionId = `agent-relinked-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const onA = await fx.ide(nodes.a, sessionId, { token });
    onA.send({ type: "switch_agent", agent: "reviewer", message_id: "sw" });
    await onA.next((f) => f.type === "ack" && f.message_id === "sw");
    nodes.runtime.switched("reviewer");
    await onA.next((f) => f.type === "agent_switched");
    const onB = await moveTo(nodes.b, onA, sessionId, token);
    nodes.runtime.links[0]!.terminate();
    await onB.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE");
    onB.send({ type: "user_message", content: "still there?", message_id: "m" });
    await onB.next((f) => f.type === "ack" && f.message_id === "m");
    expect(nodes.runtime.links).toHaveLength(2);
    expect(await judgedNext(nodes, onB)).toBe("reviewer");
  });
});

describe("the operator's live-sessions list", () => {
  it("shows the session's agent as confirmed on any node, on every node listing it", async () => {
    const nodes = await twoNodes();
    const sessionId = `agent-listed-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    const first = await fx.ide(nodes.a, sessionId, { token });
    first.send({ type: "user_message", content: "hello", message_id: "hi" });
    await first.next((f) => f.type === "ack" && f.message_id === "hi");
    const onB = await moveTo(nodes.b, first, sessionId, token); // the link stays on A
    const agentOn = async (node: TestGateway) =>
      (await node.gateway.list("acme")).find((s) => s.session_id === sessionId)?.agent;
    expect(await agentOn(nodes.b)).toBeUndefined();

    onB.send({ type: "switch_agent", agent: "coder", message_id: "sw" });
    await onB.next((f) => f.type === "ack" && f.message_id === "sw");
    nodes.runtime.switched("coder"); // confirmed on A, which holds the link
    await onB.next((f) => f.type === "agent_switched");
    expect(await agentOn(nodes.b)).toBe("coder");
    expect(await agentOn(nodes.a)).toBe("coder");
  });
});

describe("a confirmed switch the other nodes cannot learn (fail closed)", () => {
  // Were it taken anyway, the IDE would be told of an agent the node opening the session's next link does not know:
  // that node would judge the calls under the agent of before. Not taken: the IDE hears so, the link running the
  // new agent is closed, and every node judges under the agent the IDE was last told of.
  const notShared = (f: Frame) =>
    f.type === "agent_switched" ||
    (f.type === "error" && (f.details as { reason?: string } | undefined)?.reason === "AGENT_SWITCH_NOT_SHARED");

  it("Redis refuses the write: not confirmed, the link closed, and the next node judges under the agent of before", async () => {
    const ownOfA = refusingAgentWrites();
    const nodes = await twoNodes(ownOfA);
    const sessionId = `agent-refused-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    try {
      const onA = await fx.ide(nodes.a, sessionId, { token });
      onA.send({ type: "switch_agent", agent: "reviewer", message_id: "sw" });
      await onA.next((f) => f.type === "ack" && f.message_id === "sw");
      nodes.runtime.switched("reviewer");
      nodes.runtime.toolCall(); // the runtime, now as reviewer, goes on at once over the same link

      expect(await onA.next(notShared)).toMatchObject({
        type: "error",
        error_code: "AGENT_UNAVAILABLE",
        details: { reason: "AGENT_SWITCH_NOT_SHARED", agent: "reviewer" },
      });
      onA.send({ type: "user_message", content: "still there?", message_id: "m" });
      await onA.next((f) => f.type === "ack" && f.message_id === "m");
      expect(nodes.runtime.links).toHaveLength(2); // the reviewer's link closed, a new one opened
      expect(onA.frames.some((f) => f.type === "agent_switched" || f.type === "tool_call")).toBe(false);
      expect(nodes.judgedAs).toEqual([]); // its tool call was judged under no agent: it was dropped

      // The runtime drops A's link while the IDE is on B: B opens the next one, under the agent the IDE was told of.
      const onB = await moveTo(nodes.b, onA, sessionId, token);
      nodes.runtime.links[1]!.terminate();
      await onB.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE" && f.seq! > lastSeqOf(onA));
      onB.send({ type: "user_message", content: "again", message_id: "m-2" });
      await onB.next((f) => f.type === "ack" && f.message_id === "m-2");
      expect(nodes.runtime.links).toHaveLength(3);
      expect(await judgedNext(nodes, onB)).toBeUndefined();
      // Asked again where Redis takes it (B holds the link): confirmed, and judged so.
      onB.send({ type: "switch_agent", agent: "reviewer", message_id: "sw-2" });
      await onB.next((f) => f.type === "ack" && f.message_id === "sw-2");
      nodes.runtime.switched("reviewer");
      expect(await onB.next((f) => f.type === "agent_switched")).toMatchObject({ agent: "reviewer" });
      expect(await judgedNext(nodes, onB)).toBe("reviewer");
    } finally {
      ownOfA.disconnect();
    }
  });

  it("Redis unreachable from the node holding the link: not confirmed, the IDE hears so", async () => {
    const ownOfA = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    ownOfA.on("error", () => undefined);
    const nodes = await twoNodes(ownOfA);
    const sessionId = `agent-unreachable-${randomUUID()}`;
    const token = await fx.idp.mint({ sub: "alice", org: "acme" });
    try {
      const onA = await fx.ide(nodes.a, sessionId, { token });
      onA.send({ type: "switch_agent", agent: "reviewer", message_id: "sw" });
      await onA.next((f) => f.type === "ack" && f.message_id === "sw");
      await pipelined();
      ownOfA.disconnect();
      nodes.runtime.switched("reviewer");
      expect(await onA.next(notShared)).toMatchObject({
        error_code: "AGENT_UNAVAILABLE",
        details: { reason: "AGENT_SWITCH_NOT_SHARED" },
      });
    } finally {
      ownOfA.disconnect();
    }
  });
});

/** A node's own Redis connection that refuses the agent's write (as a replica turned read-only would), only that. */
function refusingAgentWrites(): Redis {
  const redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  const evalOf = redis.eval.bind(redis) as (...args: unknown[]) => Promise<unknown>;
  const refusing = (...args: unknown[]) =>
    String(args[0]).includes("'agent'")
      ? Promise.reject(new Error("READONLY You can't write against a read only replica."))
      : evalOf(...args);
  redis.eval = refusing as typeof redis.eval;
  return redis;
}

const lastSeqOf = (c: IdeClient) => Math.max(0, ...c.frames.map((f) => f.seq ?? 0));
