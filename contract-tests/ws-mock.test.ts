// The WebSocket mock behaves like the gateway for an IDE developer: auth on the upgrade, the turn's frames in
// the gateway's order, approvals, cancel, resume. Every frame it sends must validate against its generated schema.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { startWsMock } from "./ws-mock";

type Frame = Record<string, unknown>;

const root = resolve(import.meta.dirname, "..");
const index = JSON.parse(readFileSync(resolve(root, "generated/messages/index.json"), "utf8")) as Record<
  string,
  { type: string; channel: string; action: string }
>;
const ajv = new Ajv2020({ strict: false });
/** frame `type` → validator of what Gatehouse sends on the IDE socket. */
const outgoing = new Map<string, ValidateFunction>(
  Object.values(index)
    .filter((v) => v.channel === "session" && v.action === "send")
    .map((v) => {
      const schema = JSON.parse(readFileSync(resolve(root, `generated/messages/${v.type}.schema.json`), "utf8"));
      return [schema.properties.type.const as string, ajv.compile(schema)];
    }),
);

let server: Server;
/** The mock's port, picked by the OS. */
let port: number;
const open: WebSocket[] = [];
/** Every frame any test received that does not match its message schema. */
const violations: string[] = [];

beforeAll(async () => {
  server = await startWsMock(0);
  port = (server.address() as AddressInfo).port;
});
afterEach(() => {
  for (const ws of open.splice(0)) ws.terminate();
  expect(violations.splice(0)).toEqual([]);
});
afterAll(() => server.close());

interface Client {
  ws: WebSocket;
  send(frame: Frame): void;
  /** Resolves with the next `count` frames. */
  take(count: number): Promise<Frame[]>;
}

let sessionCounter = 0;
const newSessionId = () => `s_${process.pid}_${++sessionCounter}`;

function connect(
  sessionId: string,
  opts: { headers?: Record<string, string>; protocols?: string[] } = {},
): Promise<Client> {
  const headers = opts.headers ?? { Authorization: "Bearer any-token" };
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${sessionId}`, opts.protocols ?? [], { headers });
  open.push(ws);
  const queue: Frame[] = [];
  let waiter: (() => void) | undefined;
  ws.on("message", (data) => {
    const frame = JSON.parse(String(data)) as Frame;
    const label = String(frame.type);
    const validate = outgoing.get(label);
    if (!validate) violations.push(`undocumented frame type ${label}`);
    else if (!validate(frame)) violations.push(`${label}: ${ajv.errorsText(validate.errors)}`);
    // Stream frames carry seq; connection notices (session_resumed, resync_required, refusals) carry none.
    const notice = label === "session_resumed" || label === "resync_required" || label === "error";
    if (!notice && typeof frame.seq !== "number") violations.push(`${label} without seq`);
    if (label !== "error" && notice && frame.seq !== undefined) violations.push(`${label} with a seq`);
    queue.push(frame);
    waiter?.();
  });
  const client: Client = {
    ws,
    send: (frame) => ws.send(JSON.stringify(frame)),
    take: (count) =>
      new Promise((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`expected ${count} frames, got ${JSON.stringify(queue)}`)), 3000);
        const check = () => {
          if (queue.length < count) return;
          clearTimeout(timer);
          waiter = undefined;
          ok(queue.splice(0, count));
        };
        waiter = check;
        check();
      }),
  };
  return new Promise((ok, fail) => {
    ws.once("open", () => ok(client));
    ws.once("error", fail);
  });
}

/** The upgrade's HTTP answer when it is refused. */
function refusedUpgrade(
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; type: string; body: Frame }> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
    ws.on("open", () => fail(new Error("upgrade was accepted")));
    ws.on("error", () => undefined);
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () =>
        ok({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body: JSON.parse(body) }),
      );
    });
  });
}

const USER_MESSAGE = { type: "user_message", content: "Создай файл main.dart", role: "user", message_id: "ide-1" };
const types = (frames: Frame[]) =>
  frames.map((f) => (f.type === "agent_status" ? `agent_status:${String(f.status)}` : f.type));

/** Opens a session and runs a user_message up to the tool_call waiting for approval. */
async function turnWaitingApproval(sessionId = newSessionId()) {
  const ide = await connect(sessionId);
  ide.send(USER_MESSAGE);
  const frames = await ide.take(5);
  const toolCall = frames.find((f) => f.type === "tool_call")!;
  return { ide, sessionId, frames, callId: String(toolCall.call_id) };
}

describe("authentication on the upgrade (presence only: the mock does not verify tokens)", () => {
  it("refuses a connection without a token with 401 problem+json before the upgrade", async () => {
    const refused = await refusedUpgrade("/ws/demo", {});
    expect(refused.status).toBe(401);
    expect(refused.type).toContain("application/problem+json");
    expect(refused.body).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
  });

  it("refuses a malformed Authorization header with 401", async () => {
    expect((await refusedUpgrade("/ws/demo", { Authorization: "Basic abc" })).status).toBe(401);
  });

  it("answers 404 for a path other than /ws/{session_id}", async () => {
    expect((await refusedUpgrade("/nope", { Authorization: "Bearer x" })).status).toBe(404);
  });

  it("accepts a browser's bearer.<token> subprotocol and echoes gatehouse.v1, never the token", async () => {
    const ide = await connect(newSessionId(), { headers: {}, protocols: ["gatehouse.v1", "bearer.anything"] });
    expect(ide.ws.protocol).toBe("gatehouse.v1");
  });
});

describe("a turn", () => {
  it("streams ack, thinking, the tool_call with its approval, waiting_approval, then tokens — numbered from 1", async () => {
    const { frames, callId } = await turnWaitingApproval();
    expect(types(frames)).toEqual([
      "ack",
      "agent_status:thinking",
      "tool_call",
      "agent_status:waiting_approval",
      "assistant_message",
    ]);
    expect(frames.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(frames[0]).toMatchObject({ message_id: "ide-1", ack_type: "user_message" });
    expect(frames[2]).toMatchObject({
      requires_approval: true,
      call_id: callId,
      approval_id: expect.stringMatching(/^appr-/),
    });
    expect(frames[4]).toMatchObject({ is_final: false });
  });

  it("gives each tool_call of a session its own call_id", async () => {
    const { ide, callId } = await turnWaitingApproval();
    ide.send({ type: "cancel" });
    await ide.take(3);
    ide.send(USER_MESSAGE);
    const second = (await ide.take(5)).find((f) => f.type === "tool_call")!;
    expect(second.call_id).not.toBe(callId);
  });

  it("after approve: executing_tool; after the tool_result: the final assistant_message and idle", async () => {
    const { ide, callId } = await turnWaitingApproval();
    ide.send({ type: "hitl_decision", call_id: callId, decision: "approve" });
    const afterApprove = await ide.take(2);
    expect(types(afterApprove)).toEqual(["ack", "agent_status:executing_tool"]);
    expect(afterApprove[0]).toMatchObject({ ack_type: "hitl_decision" });
    ide.send({ type: "tool_result", call_id: callId, result: { content: "file content" } });
    const afterResult = await ide.take(4);
    expect(types(afterResult)).toEqual(["ack", "assistant_message", "assistant_message", "agent_status:idle"]);
    expect(afterResult[1]).toMatchObject({ is_final: false });
    expect(afterResult[2]).toMatchObject({ is_final: true });
    expect(afterResult.map((f) => f.seq)).toEqual([8, 9, 10, 11]);
  });

  it("after edit: the same call again, runnable, with the edited arguments", async () => {
    const { ide, callId } = await turnWaitingApproval();
    const edited = { path: "lib/other.dart", content: "void main() {}" };
    ide.send({ type: "hitl_decision", call_id: callId, decision: "edit", modified_arguments: edited });
    const frames = await ide.take(3);
    expect(types(frames)).toEqual(["ack", "tool_call", "agent_status:executing_tool"]);
    expect(frames[1]).toMatchObject({ call_id: callId, requires_approval: false, arguments: edited });
  });

  it("after reject: the turn ends", async () => {
    const { ide, callId } = await turnWaitingApproval();
    ide.send({ type: "hitl_decision", call_id: callId, decision: "reject", feedback: "нет" });
    const frames = await ide.take(4);
    expect(types(frames)).toEqual(["ack", "assistant_message", "assistant_message", "agent_status:idle"]);
    expect(frames[2]).toMatchObject({ is_final: true });
  });

  it("refuses a tool_result for a call still waiting for approval, or unknown, with INVALID_CALL_ID", async () => {
    const { ide, callId } = await turnWaitingApproval();
    ide.send({ type: "tool_result", call_id: callId, result: { content: "x" } });
    ide.send({ type: "hitl_decision", call_id: "call_unknown", decision: "approve" });
    const frames = await ide.take(2);
    expect(frames.map((f) => f.error_code)).toEqual(["INVALID_CALL_ID", "INVALID_CALL_ID"]);
  });

  it("refuses a hitl_decision naming another approval_id with INVALID_CALL_ID (no seq, no ack); nothing is decided", async () => {
    const { ide, callId, frames: turn } = await turnWaitingApproval();
    const own = String(turn.find((f) => f.type === "tool_call")!.approval_id);
    // Another call's or a made-up id, the own one case-changed or padded: compared exactly, as the gateway does.
    const wrong = ["appr-00000000-0000-0000-0000-000000000000", own.toUpperCase(), ` ${own}`];
    for (const [i, approvalId] of wrong.entries()) {
      const messageId = `wrong-${i}`;
      ide.send({
        type: "hitl_decision",
        call_id: callId,
        approval_id: approvalId,
        decision: "approve",
        message_id: messageId,
      });
      const [refused] = await ide.take(1);
      expect(refused).toMatchObject({
        type: "error",
        error_code: "INVALID_CALL_ID",
        details: { call_id: callId, approval_id: approvalId, message_id: messageId },
      });
      expect(refused!.seq).toBeUndefined();
    }
    // Still waiting: its result is refused, and the decision naming its own approval is the one applied.
    ide.send({ type: "tool_result", call_id: callId, result: { content: "x" } });
    expect((await ide.take(1))[0]).toMatchObject({ type: "error", error_code: "INVALID_CALL_ID" });
    ide.send({ type: "hitl_decision", call_id: callId, approval_id: own, decision: "approve", message_id: "right" });
    const frames = await ide.take(2);
    expect(types(frames)).toEqual(["ack", "agent_status:executing_tool"]);
    expect(frames[0]).toMatchObject({ ack_type: "hitl_decision", message_id: "right", seq: 6 });
  });

  it("cancel ends the turn: ack, final assistant_message, idle; the cancelled call is gone", async () => {
    const { ide, callId } = await turnWaitingApproval();
    ide.send({ type: "cancel", reason: "user pressed stop" });
    const frames = await ide.take(3);
    expect(types(frames)).toEqual(["ack", "assistant_message", "agent_status:idle"]);
    expect(frames[1]).toMatchObject({ is_final: true });
    ide.send({ type: "hitl_decision", call_id: callId, decision: "approve" });
    expect((await ide.take(1))[0]).toMatchObject({ type: "error", error_code: "INVALID_CALL_ID" });
  });

  it("answers switch_agent with ack and agent_switched naming both agents", async () => {
    const ide = await connect(newSessionId());
    ide.send({ type: "switch_agent", agent: "reviewer" });
    const frames = await ide.take(2);
    expect(types(frames)).toEqual(["ack", "agent_switched"]);
    expect(frames[1]).toMatchObject({ agent: "reviewer", previous_agent: "orchestrator" });
  });

  it("answers an invalid frame with INVALID_MESSAGE in the canonical shape, socket open", async () => {
    const ide = await connect(newSessionId());
    ide.send({ type: "user_message" });
    const [error] = await ide.take(1);
    expect(error).toMatchObject({ type: "error", error_code: "INVALID_MESSAGE" });
    expect(error?.message).toBe(error?.content);
    expect(ide.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe("resume", () => {
  it("replays the frames after last_seq (resume frame) and answers session_resumed", async () => {
    const { ide, sessionId, frames } = await turnWaitingApproval();
    ide.ws.close();
    const again = await connect(sessionId);
    again.send({ type: "resume", last_seq: 2 });
    const got = await again.take(4);
    expect(got.slice(0, 3)).toEqual(frames.slice(2));
    expect(got[3]).toMatchObject({ type: "session_resumed", session_id: sessionId, last_seq: 2, replayed: 3 });
    expect(got[3]).not.toHaveProperty("seq");
  });

  it("replays on connect with X-Gatehouse-Last-Seq, then continues the same numbering", async () => {
    const { ide, sessionId, frames, callId } = await turnWaitingApproval();
    ide.ws.close();
    const again = await connect(sessionId, { headers: { Authorization: "Bearer t", "X-Gatehouse-Last-Seq": "3" } });
    const got = await again.take(3);
    expect(got.slice(0, 2)).toEqual(frames.slice(3));
    expect(got[2]).toMatchObject({ type: "session_resumed", last_seq: 3, replayed: 2 });
    again.send({ type: "hitl_decision", call_id: callId, decision: "approve" });
    // session_resumed took no seq: the stream continues right after the last replayed frame.
    expect((await again.take(2)).map((f) => f.seq)).toEqual([6, 7]);
  });

  it("answers resync_required when last_seq is ahead of what was sent", async () => {
    const { ide, sessionId } = await turnWaitingApproval();
    ide.send({ type: "resume", last_seq: 99 });
    const [frame] = await ide.take(1);
    expect(frame).toMatchObject({ type: "resync_required", session_id: sessionId, last_seq: 99, oldest_seq: 1 });
  });

  it("answers resync_required for a session it never saw", async () => {
    const sessionId = newSessionId();
    const ide = await connect(sessionId, { headers: { Authorization: "Bearer t", "X-Gatehouse-Last-Seq": "41" } });
    const [frame] = await ide.take(1);
    expect(frame).toMatchObject({ type: "resync_required", session_id: sessionId, last_seq: 41 });
    expect(frame).not.toHaveProperty("oldest_seq");
  });
});
