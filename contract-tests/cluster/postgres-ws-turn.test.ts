// A running turn whose IDE moved to another node, on PostgreSQL + Redis (no sticky routing): the turn's runtime
// link stays on node A, the IDE talks to node B. Its hitl_decision, tool_result and cancel reach the runtime
// through A (forwarded over A's Redis inbox, applied by A's own policy and approvals), the acks and the rest of
// the turn come back through the frames stream with no seq gap; a frame A never took is never acked. Node A
// does not expire a session that lives on B (2 s TTL here), a session abandoned everywhere still ends once, and
// a node that goes away mid-turn leaves B's IDE an AGENT_UNAVAILABLE, not a silent wait.
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentRuntime, startAgentRuntime } from "../../examples/agent-runtime/server";
import { shouldRunRedisTests } from "../../src/core/events/redis-availability";
import { postgresForTests } from "../../src/core/store/test-support";
import { type Frame, type IdeClient, openIde, isFinal, tokensOf } from "../../src/faces/sessions/test-support";
import { operator } from "../../src/test-support/http";
import { ORG_ID, startTestGatehouse, type TestGatehouse } from "../fixtures";
import { clientSessionId } from "../../src/faces/sessions/session-key";
import { openSharedPostgresStore, type SharedStore, startTwoNodes, type TwoNodes } from "./nodes";

const pgAdmin = await postgresForTests("a moved IDE's frames reach the turn on another node");
const runRedis = await shouldRunRedisTests("a moved IDE's frames reach the turn on another node");
const MANIFESTS = resolve(import.meta.dirname, "../../examples/manifests");
/** The session TTL of every node here: short, so "not expired while it lives on B" is seen within the test. */
const TTL_MS = 2_000;

const wsUrl = (node: TestGatehouse, sessionId: string) => `${node.url.replace("http", "ws")}/ws/${sessionId}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Every frame of the stream the IDE saw over its sockets, in order: seq 1, 2, 3 … with nothing missing. */
const expectNoGap = (frames: Frame[]) => {
  const seqs = frames.filter((f) => f.seq !== undefined).map((f) => f.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
};

const clients: IdeClient[] = [];

/** Opens the session on A, asks for a tool that needs approval, drops the IDE and resumes it on B. */
async function approvalMovedToB(nodes: { a: TestGatehouse; b: TestGatehouse }, sessionId: string, prompt: string) {
  const token = await nodes.a.userTokenFor(ORG_ID, "dev@acme.example", ["developer"]);
  const first = await openIde(wsUrl(nodes.a, sessionId), { token });
  clients.push(first);
  first.send({ type: "user_message", content: prompt });
  const call = await first.next((f) => f.type === "tool_call");
  expect(call).toMatchObject({ requires_approval: true, approval_id: expect.any(String) });
  await first.next((f) => f.type === "agent_status" && f.status === "waiting_approval");
  const seen = [...first.frames];
  first.ws.terminate();
  const second = await openIde(wsUrl(nodes.b, sessionId), {
    token,
    headers: { "x-gatehouse-last-seq": String(seen.at(-1)!.seq) },
  });
  clients.push(second);
  await second.next((f) => f.type === "session_resumed");
  return { token, call, seen, second };
}

describe.runIf(pgAdmin && runRedis)("a moved IDE's frames reach the turn on the node that runs it", () => {
  let runtime: AgentRuntime;
  let nodes: TwoNodes;

  beforeAll(async () => {
    runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 10 });
    const store = await openSharedPostgresStore(pgAdmin!);
    nodes = await startTwoNodes(
      {
        AGENT_RUNTIME_URL: runtime.url,
        GATEHOUSE_MANIFEST_DIR: MANIFESTS,
        GATEHOUSE_WS_SESSION_TTL_MS: String(TTL_MS),
      },
      store,
    );
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await nodes?.dispose();
    await runtime?.close();
  });

  it("approve on B: the runtime on A hears it, the turn completes, streamed to B with no seq gap", async () => {
    const sessionId = `moved-approve-${randomUUID()}`;
    const { call, seen, second } = await approvalMovedToB(nodes, sessionId, "write file lib/moved.dart");
    const approvalId = call.approval_id as string;

    second.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "d-on-b" });
    const ack = await second.next((f) => f.type === "ack" && f.message_id === "d-on-b");
    expect(ack).toMatchObject({ ack_type: "hitl_decision", seq: expect.any(Number) });
    await second.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    const decisions = runtime.received.filter(
      (r) => clientSessionId(r.sessionId) === sessionId && r.frame.type === "hitl_decision",
    );
    expect(decisions.map((r) => r.frame)).toEqual([
      expect.objectContaining({ call_id: call.call_id, decision: "approve", approval_id: approvalId }),
    ]);
    // Decided by the IDE's user through A's approvals store, and spent once when A released the call.
    const approval = await operator(nodes.b).get(`/approvals/${approvalId}`);
    expect(approval.body).toMatchObject({ status: "consumed", decided_by: "dev@acme.example" });

    // A duplicate of the decision (a replayed or forged frame) is refused by A: the approval was single-use.
    second.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "d-again" });
    const refused = await second.next((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID");
    expect(refused.seq).toBeUndefined();
    expect(second.frames.some((f) => f.type === "ack" && f.message_id === "d-again")).toBe(false);

    second.send({ type: "tool_result", call_id: call.call_id, result: { content: "ok" }, message_id: "r-on-b" });
    await second.next((f) => f.type === "ack" && f.message_id === "r-on-b");
    await second.next(isFinal, 15_000);
    const all = [...seen, ...second.frames];
    expectNoGap(all);
    expect(tokensOf(all)).toContain("Готово: lib/moved.dart (write_file).");
    // Only A opened a runtime link for the session: B forwarded, it never ran the turn itself.
    expect(runtime.received.filter((r) => clientSessionId(r.sessionId) === sessionId).map((r) => r.frame.type)).toEqual(
      ["user_message", "hitl_decision", "tool_result"],
    );
    expect(runtime.connections()).toBe(1);
  });

  it("several frames sent on B at once reach the runtime on A in the order sent, each acked once", async () => {
    const sessionId = `moved-order-${randomUUID()}`;
    const { call, second } = await approvalMovedToB(nodes, sessionId, "write file lib/order.dart");
    second.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "o-1" });
    await second.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    second.send({ type: "tool_result", call_id: call.call_id, result: { content: "ok" }, message_id: "o-2" });
    second.send({ type: "switch_agent", agent: "coder", message_id: "o-3" });
    second.send({ type: "user_message", content: "and then this", message_id: "o-4" });
    second.send({ type: "user_message", content: "and finally that", message_id: "o-5" });
    await second.next((f) => f.type === "ack" && f.message_id === "o-5");
    const acks = second.frames.filter((f) => f.type === "ack").map((f) => f.message_id);
    expect(acks).toEqual(["o-1", "o-2", "o-3", "o-4", "o-5"]);
    // The ack leaves A once the frame was written to the runtime socket; the runtime reads it a moment later.
    const atRuntime = () =>
      runtime.received
        .filter((r) => clientSessionId(r.sessionId) === sessionId)
        .map((r) => String(r.frame.content ?? r.frame.type));
    await expect
      .poll(atRuntime)
      .toEqual([
        "write file lib/order.dart",
        "hitl_decision",
        "tool_result",
        "switch_agent",
        "and then this",
        "and finally that",
      ]);
    await expect.poll(() => tokensOf(second.frames), { timeout: 15_000 }).toContain("and finally that");
  });

  it("cancel on B stops the turn on A and cancels its pending approval", async () => {
    const sessionId = `moved-cancel-${randomUUID()}`;
    const { call, second } = await approvalMovedToB(nodes, sessionId, "write file lib/cancel.dart");
    second.send({ type: "cancel", message_id: "c-on-b" });
    await second.next((f) => f.type === "ack" && f.message_id === "c-on-b");
    await second.next(isFinal, 5_000);
    expect(runtime.received.some((r) => clientSessionId(r.sessionId) === sessionId && r.frame.type === "cancel")).toBe(
      true,
    );
    await expect
      .poll(async () => (await operator(nodes.a).get(`/approvals/${call.approval_id}`)).body.status)
      .toBe("cancelled");
    // The call is gone with the turn: a late approval of it is refused, nothing reaches the runtime.
    second.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "late" });
    await second.next((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID");
    expect(
      runtime.received.some((r) => clientSessionId(r.sessionId) === sessionId && r.frame.type === "hitl_decision"),
    ).toBe(false);
  });

  it(`A (TTL ${TTL_MS} ms) does not expire a session that lives on B; abandoned everywhere, it ends once`, async () => {
    const sessionId = `moved-ttl-${randomUUID()}`;
    const { token, call, second } = await approvalMovedToB(nodes, sessionId, "write file lib/ttl.dart");
    const linksBefore = runtime.connections();
    await sleep(TTL_MS * 2.5); // A's timer fired (more than once): the session lives on B, so A keeps it
    expect(await keysOf(nodes, "session", sessionId)).toBe(1);
    expect((await operator(nodes.a).get(`/approvals/${call.approval_id}`)).body.status).toBe("pending");
    expect(runtime.connections()).toBe(linksBefore);
    second.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "ttl-d" });
    await second.next((f) => f.type === "ack" && f.message_id === "ttl-d");
    await second.next((f) => f.type === "agent_status" && f.status === "executing_tool");

    // Now the IDE leaves B too and comes back nowhere: the session ends, once, on the TTL of its last activity.
    second.ws.close();
    await expect.poll(() => keysOf(nodes, "expired", sessionId), { timeout: TTL_MS * 3 }).toBe(1);
    expect(await keysOf(nodes, "session", sessionId)).toBe(0);
    // Node A closed the runtime link it held (the turn is stopped).
    await expect.poll(() => runtime.connections(), { timeout: 3_000 }).toBe(linksBefore - 1);
    const late = await openIde(wsUrl(nodes.a, sessionId), { token, headers: { "x-gatehouse-last-seq": "3" } });
    clients.push(late);
    expect(await late.next((f) => f.type === "error")).toMatchObject({ error_code: "SESSION_EXPIRED" });
  });
});

describe.runIf(pgAdmin && runRedis)("the node running the turn goes away while the IDE is on another", () => {
  let runtime: AgentRuntime;
  let store: SharedStore;
  let a: TestGatehouse | undefined;
  let b: TestGatehouse;

  beforeAll(async () => {
    runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 25 });
    store = await openSharedPostgresStore(pgAdmin!);
    const env = {
      ...store.env,
      REDIS_URL: "redis://127.0.0.1:6379",
      GATEHOUSE_REDIS_PREFIX: `gatehouse-test-gone-${randomUUID()}`,
      AGENT_RUNTIME_URL: runtime.url,
      GATEHOUSE_MANIFEST_DIR: MANIFESTS,
    };
    a = await startTestGatehouse({ env });
    b = await startTestGatehouse({ env });
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await a?.dispose();
    await b?.dispose();
    await runtime?.close();
    await store?.dispose();
  });

  it("B's IDE hears AGENT_UNAVAILABLE (not a silent wait), a frame for the gone turn is never acked, B carries on", async () => {
    const sessionId = `gone-${randomUUID()}`;
    const { call, seen, second } = await approvalMovedToB({ a: a!, b }, sessionId, "write file lib/gone.dart");
    const stop = a!.dispose(); // a clean shutdown: its links close, its presence goes at once
    a = undefined;
    await stop;
    const lost = await second.next((f) => f.type === "error" && f.error_code === "AGENT_UNAVAILABLE", 5_000);
    expect(lost).toMatchObject({ seq: expect.any(Number), details: { reason: "NODE_GONE" } });
    second.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve", message_id: "after-gone" });
    await second.next((f) => f.type === "error" && f.error_code === "INVALID_CALL_ID");
    expect(second.frames.some((f) => f.type === "ack" && f.message_id === "after-gone")).toBe(false);
    // The next prompt opens a runtime link on B: the session carries on there, in the same numbering.
    second.send({ type: "user_message", content: "hello again", message_id: "u-on-b" });
    await second.next((f) => f.type === "ack" && f.message_id === "u-on-b");
    await second.next(isFinal, 10_000);
    expectNoGap([...seen, ...second.frames]);
  });
});

/** How many Redis keys of `kind` the session has (they carry its owner's tag: src/faces/sessions/session-key.ts). */
async function keysOf(nodes: TwoNodes, kind: string, sessionId: string): Promise<number> {
  return (await nodes.redis.keys(`${nodes.prefix}:ws:${kind}:${sessionId}~*`)).length;
}
