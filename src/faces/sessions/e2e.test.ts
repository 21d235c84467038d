// End to end through the real server (startGatehouse via contract-tests/fixtures): REST API, the embedded
// identity provider, the ide-assistant manifest loaded from examples/manifests, Redis, the reference agent
// runtime — and the IDE on the typed client generated from the AsyncAPI spec.
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentRuntime, startAgentRuntime } from "../../../examples/agent-runtime/server";
import type { AgentStatus, AssistantMessage, ToolCall } from "../../../generated/messages/types";
import type { ServerFrame } from "../../../generated/ws-client";
import { ORG_ID, startTestGatehouse, type TestGatehouse } from "../../test-support/gatehouse";
import { operatorRequest } from "../../test-support/http";
import { clientSessionId } from "./session-key";
import { openTypedIde, type TypedIde } from "./test-support";

const REDIS_URL = "redis://127.0.0.1:6379";
const prefix = `gatehouse-test-${randomUUID()}`;
let runtime: AgentRuntime;
let gatehouse: TestGatehouse;
let ideToken: string;
const ides: TypedIde[] = [];

const isToolCall = (f: ServerFrame): f is ToolCall => f.type === "tool_call";
const isFinal = (f: ServerFrame): f is AssistantMessage => f.type === "assistant_message" && f.is_final === true;
const isStatus = (status: AgentStatus["status"]) => (f: ServerFrame) =>
  f.type === "agent_status" && f.status === status;
const tokensOf = (frames: ServerFrame[]) =>
  frames
    .filter((f): f is AssistantMessage => f.type === "assistant_message")
    .map((f) => f.token)
    .join("");

beforeAll(async () => {
  runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 5 });
  gatehouse = await startTestGatehouse({
    env: {
      AGENT_RUNTIME_URL: runtime.url,
      GATEHOUSE_MANIFEST_DIR: resolve(import.meta.dirname, "../../../examples/manifests"),
      REDIS_URL,
      GATEHOUSE_REDIS_PREFIX: prefix,
    },
  });
  ideToken = await gatehouse.userTokenFor(ORG_ID, "dev@acme", ["developer"]);
});

afterAll(async () => {
  for (const ide of ides) ide.ws.terminate();
  await gatehouse?.dispose();
  await runtime?.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

async function ide(sessionId: string) {
  const c = await openTypedIde(gatehouse.url, sessionId, ideToken);
  ides.push(c);
  return c;
}

const rest = (method: string, path: string, body?: unknown) => operatorRequest(gatehouse, method, path, body);

describe("agent sessions through the real server", () => {
  it("health reports the agent runtime and Redis from real probes", async () => {
    const { body } = await rest("GET", "/health");
    expect(body.dependencies).toMatchObject({ agent_runtime: "available", redis: "connected" });
  });

  it("a tool call approved from the IDE: one approval, visible to operators, consumed on release", async () => {
    const c = await ide("e2e-ide-approve");
    c.session.send({ type: "user_message", content: "write file lib/app.dart", message_id: "m-1" });
    const call = await c.next(isToolCall);
    expect(call).toMatchObject({ tool_name: "write_file", requires_approval: true });
    expect(call.approval_id).toMatch(/^appr-/);

    const listed = await rest("GET", `/api/v1/orgs/${ORG_ID}/approvals?status=pending`);
    expect((listed.body.items as { approval_id: string }[]).map((a) => a.approval_id)).toContain(call.approval_id);

    c.session.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next(isStatus("executing_tool"));
    c.session.send({ type: "tool_result", call_id: call.call_id, result: { content: "written" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: lib/app.dart (write_file).");

    const after = await rest("GET", `/api/v1/orgs/${ORG_ID}/approvals/${call.approval_id}`);
    expect(after.body).toMatchObject({ status: "consumed", decided_by: "dev@acme" });
    const atRuntime = runtime.received.filter(
      (r) => clientSessionId(r.sessionId) === "e2e-ide-approve" && r.frame.type === "hitl_decision",
    );
    expect(atRuntime.map((r) => r.frame)).toEqual([
      expect.objectContaining({ decision: "approve", approval_id: call.approval_id }),
    ]);
  });

  it("a tool call approved by an operator over REST reaches the runtime and the IDE as runnable", async () => {
    const c = await ide("e2e-rest-approve");
    c.session.send({ type: "user_message", content: "run npm test" });
    const call = await c.next(isToolCall);
    expect(call).toMatchObject({
      tool_name: "run_command",
      arguments: { command: "npm test" },
      requires_approval: true,
    });

    const approved = await rest("POST", `/api/v1/orgs/${ORG_ID}/approvals/${call.approval_id}/approve`, {
      reason: "tests are safe",
    });
    expect(approved.status).toBe(200);
    const runnable = await c.next((f): f is ToolCall => isToolCall(f) && f.requires_approval === false);
    expect(runnable).toMatchObject({
      call_id: call.call_id,
      approval_id: call.approval_id,
      arguments: { command: "npm test" },
    });
    // A real IDE runs the tool at once, while the runtime may still be streaming: the result must not be lost.
    c.session.send({ type: "tool_result", call_id: call.call_id, result: { content: "42 passed" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: npm test (run_command).");
    const atRuntime = runtime.received.find(
      (r) => clientSessionId(r.sessionId) === "e2e-rest-approve" && r.frame.type === "hitl_decision",
    );
    expect(atRuntime?.frame).toMatchObject({ decision: "approve", approval_id: call.approval_id });
    expect((await rest("GET", `/api/v1/orgs/${ORG_ID}/approvals/${call.approval_id}`)).body).toMatchObject({
      status: "consumed",
      decided_by: "operator@contract",
    });
  });

  it("a tool call denied over REST never becomes runnable, and the operator's note stays with the operators", async () => {
    const c = await ide("e2e-rest-deny");
    c.session.send({ type: "user_message", content: "push to origin" });
    const call = await c.next(isToolCall);
    const denied = await rest("POST", `/api/v1/orgs/${ORG_ID}/approvals/${call.approval_id}/deny`, {
      reason: "PRIVATE-OPERATOR-NOTE",
    });
    expect(denied.status).toBe(200);
    const err = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(err).toMatchObject({
      message: `Tool git.push was not approved: Approval ${call.approval_id} was denied`,
      details: { call_id: call.call_id, approval_id: call.approval_id, reasons: ["APPROVAL_DENIED"] },
    });
    await c.next(isFinal);
    expect(c.frames.filter(isToolCall)).toHaveLength(1);
    // Neither the IDE nor the reference runtime (which repeats a reject's feedback) hears the note or the operator.
    expect(tokensOf(c.frames)).toContain("не выполняю git.push");
    expect(JSON.stringify(c.frames)).not.toMatch(/PRIVATE-OPERATOR-NOTE|operator@contract/);
    const atRuntime = runtime.received.filter(
      (r) => clientSessionId(r.sessionId) === "e2e-rest-deny" && r.frame.type === "hitl_decision",
    );
    expect(atRuntime.map((r) => r.frame)).toEqual([
      expect.objectContaining({ decision: "reject", feedback: `Approval ${call.approval_id} was denied` }),
    ]);
  });

  it("the sessions' replay buffer is mirrored to Redis", async () => {
    const c = await ide("e2e-redis");
    c.session.send({ type: "user_message", content: "hi" });
    await c.next(isFinal);
    const redis = new Redis(REDIS_URL);
    try {
      const last = c.frames.flatMap((f) => ("seq" in f && f.seq !== undefined ? [f.seq] : [])).at(-1)!;
      // Writes are pipelined, not awaited: give them a moment.
      // Keyed by the session's owner too (./session-key.ts): the client's id, `~`, the owner's tag.
      const framesKeys = () => redis.keys(`${prefix}:ws:frames:e2e-redis~*`);
      await expect.poll(async () => (await framesKeys()).length).toBe(1);
      const [framesKey] = await framesKeys();
      await expect.poll(() => redis.xlen(framesKey!)).toBeGreaterThanOrEqual(last);
      expect(await redis.hget(framesKey!.replace(":ws:frames:", ":ws:session:"), "owner")).toBe("dev@acme");
      expect(await redis.pttl(framesKey!)).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });
});
