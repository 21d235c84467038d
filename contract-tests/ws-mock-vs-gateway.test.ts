// The WebSocket mock (`make mock`, :4011) and the real gateway answer the same scripted IDE conversation with
// the same sequence of frame types: one script — ask for a tool, approve it, return its result — runs against
// both, and the frames each sent are compared as (type, status, is_final, requires_approval, approval id
// present). Streamed tokens are compared as one run (the reference runtime streams word by word, the mock
// sends its example token). The real side is startGatehouse with the reference agent runtime and the
// ide-assistant manifest, so tool calls go through the tool policy and an approval is created for real.
import { get, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startAgentRuntime, type AgentRuntime } from "../examples/agent-runtime/server";
import { ORG_ID, startTestGatehouse, type TestGatehouse } from "./fixtures";
import { startWsMock } from "./ws-mock";

type Frame = Record<string, unknown>;

let runtime: AgentRuntime;
let gatehouse: TestGatehouse;
let mock: Server;
let ideToken: string;
/** The mock's port, picked by the OS. */
let mockPort: number;

beforeAll(async () => {
  runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 1 });
  [gatehouse, mock] = await Promise.all([
    startTestGatehouse({
      env: {
        AGENT_RUNTIME_URL: runtime.url,
        GATEHOUSE_MANIFEST_DIR: resolve(import.meta.dirname, "../examples/manifests"),
      },
    }),
    startWsMock(0),
  ]);
  mockPort = (mock.address() as AddressInfo).port;
  ideToken = await gatehouse.devIssuer!.mint({ sub: "dev@acme", org: ORG_ID, roles: ["developer"] });
}, 90_000);

afterAll(async () => {
  mock?.close();
  await gatehouse?.dispose();
  await runtime?.close();
});

/** An IDE socket that records every frame and can wait for one. */
async function connect(url: string, token: string) {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const frames: Frame[] = [];
  const waiters: { test: (f: Frame) => boolean; done: (f: Frame) => void }[] = [];
  ws.on("message", (data) => {
    const frame = JSON.parse(String(data)) as Frame;
    frames.push(frame);
    for (const w of waiters.splice(0)) {
      if (w.test(frame)) w.done(frame);
      else waiters.push(w);
    }
  });
  await new Promise<void>((ok, fail) => {
    ws.once("open", () => ok());
    ws.once("error", fail);
  });
  const waitFor = (test: (f: Frame) => boolean, what: string) =>
    new Promise<Frame>((ok, fail) => {
      const seen = frames.find(test);
      if (seen) return ok(seen);
      const timer = setTimeout(
        () => fail(new Error(`no ${what} in ${JSON.stringify(frames.map((f) => f.type))}`)),
        15_000,
      );
      waiters.push({
        test,
        done: (f) => {
          clearTimeout(timer);
          ok(f);
        },
      });
    });
  return { ws, frames, send: (f: Frame) => ws.send(JSON.stringify(f)), waitFor };
}

const isStatus = (status: string) => (f: Frame) => f.type === "agent_status" && f.status === status;

/** A made-up approval id: a decision naming it (not the call's own) is refused by both. */
const WRONG_APPROVAL = "appr-00000000-0000-0000-0000-000000000000";

/**
 * The script: ask for a file write, approve the tool call, return its result, wait for the turn to end.
 * `wrongApprovalFirst`: a decision naming another approval_id is sent (and refused) before the right one.
 */
async function converse(url: string, token: string, wrongApprovalFirst = false): Promise<Frame[]> {
  const ide = await connect(url, token);
  try {
    ide.send({ type: "user_message", content: "write file lib/app.dart", message_id: "m-1" });
    const call = await ide.waitFor((f) => f.type === "tool_call" && f.requires_approval === true, "tool_call");
    await ide.waitFor(isStatus("waiting_approval"), "agent_status waiting_approval");
    if (wrongApprovalFirst) {
      ide.send({
        type: "hitl_decision",
        call_id: call.call_id,
        decision: "approve",
        approval_id: WRONG_APPROVAL,
        message_id: "m-wrong",
      });
      await ide.waitFor((f) => f.type === "error", "error");
    }
    ide.send({
      type: "hitl_decision",
      call_id: call.call_id,
      decision: "approve",
      message_id: "m-2",
      ...(call.approval_id ? { approval_id: call.approval_id } : {}),
    });
    await ide.waitFor(isStatus("executing_tool"), "agent_status executing_tool");
    ide.send({ type: "tool_result", call_id: call.call_id, result: { written: true }, message_id: "m-3" });
    await ide.waitFor((f) => f.type === "assistant_message" && f.is_final === true, "final assistant_message");
    await ide.waitFor(isStatus("idle"), "agent_status idle");
    await new Promise((r) => setTimeout(r, 200));
    return ide.frames;
  } finally {
    ide.ws.terminate();
  }
}

/**
 * What is compared of each frame; a run of streamed tokens counts once. Acks are compared apart (acksOf): where
 * an ack falls inside a reply that is still streaming depends on timing, not on the contract.
 */
function shape(frames: Frame[]): string[] {
  const out: string[] = [];
  for (const f of frames) {
    if (f.type === "ack") continue;
    let s = String(f.type);
    if (f.type === "agent_status") s += ` ${f.status}`;
    if (f.type === "assistant_message") s += f.is_final ? " final" : " token";
    if (f.type === "tool_call") s += ` requires_approval=${f.requires_approval} approval_id=${typeof f.approval_id}`;
    if (s === "assistant_message token" && out.at(-1) === s) continue;
    out.push(s);
  }
  return out;
}

const acksOf = (frames: Frame[]) => frames.filter((f) => f.type === "ack").map((f) => `${f.ack_type} ${f.message_id}`);

describe("the WebSocket mock and the real gateway, one scripted IDE conversation", () => {
  it("send the same frame types in the same order, approval ids included", async () => {
    const real = await converse(`${gatehouse.url.replace(/^http/, "ws")}/ws/compare-real`, ideToken);
    const mocked = await converse(`ws://127.0.0.1:${mockPort}/ws/compare-mock`, "any-token");
    expect(shape(mocked)).toEqual(shape(real));
    expect(acksOf(mocked)).toEqual(acksOf(real));
    expect(acksOf(real)).toEqual(["user_message m-1", "hitl_decision m-2", "tool_result m-3"]);
    // Every frame of both carries its seq, from 1 without gaps.
    for (const frames of [real, mocked]) expect(frames.map((f) => f.seq)).toEqual(frames.map((_f, i) => i + 1));
  }, 60_000);

  it("refuse a hitl_decision naming another approval_id alike: error INVALID_CALL_ID, no seq, no ack, nothing decided", async () => {
    const real = await converse(`${gatehouse.url.replace(/^http/, "ws")}/ws/compare-real-wrong`, ideToken, true);
    const mocked = await converse(`ws://127.0.0.1:${mockPort}/ws/compare-mock-wrong`, "any-token", true);
    // The refusal: the same code and details (its call_id is each side's own), never numbered.
    const refusals = (frames: Frame[]) =>
      frames
        .filter((f) => f.type === "error")
        .map((f) => ({ error_code: f.error_code, seq: f.seq, details: { ...(f.details as Frame), call_id: "c" } }));
    expect(refusals(mocked)).toEqual(refusals(real));
    expect(refusals(real)).toEqual([
      {
        error_code: "INVALID_CALL_ID",
        seq: undefined,
        details: { call_id: "c", approval_id: WRONG_APPROVAL, message_id: "m-wrong" },
      },
    ]);
    // The rest of the conversation as without it: the right decision then decides the call, acked once.
    const stream = (frames: Frame[]) => frames.filter((f) => f.type !== "error");
    expect(shape(stream(mocked))).toEqual(shape(stream(real)));
    expect(acksOf(mocked)).toEqual(acksOf(real));
    expect(acksOf(real)).toEqual(["user_message m-1", "hitl_decision m-2", "tool_result m-3"]);
    for (const frames of [real, mocked])
      expect(stream(frames).map((f) => f.seq)).toEqual(stream(frames).map((_f, i) => i + 1));
  }, 60_000);

  it("refuse an upgrade without a token alike: the same status, problem type, code and challenge", async () => {
    // An upgrade request as an IDE sends it (fetch may not send Connection/Upgrade), answered with a plain response.
    const refusal = (url: string) =>
      new Promise<Record<string, unknown>>((done, fail) => {
        const upgrade = { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13" };
        const headers = { ...upgrade, "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" };
        get(url, { headers }, (reply) => {
          let text = "";
          reply.on("data", (chunk) => (text += chunk));
          reply.on("end", () => {
            const body = JSON.parse(text) as Frame;
            done({
              status: reply.statusCode,
              contentType: reply.headers["content-type"],
              challenge: reply.headers["www-authenticate"],
              type: body.type,
              title: body.title,
              code: body.code,
            });
          });
        }).on("error", fail);
      });
    const real = await refusal(`${gatehouse.url}/ws/refused`);
    expect(real).toMatchObject({ status: 401, type: "urn:gatehouse:problem:unauthorized", code: "UNAUTHORIZED" });
    expect(await refusal(`http://127.0.0.1:${mockPort}/ws/refused`)).toEqual(real);
  });
});
