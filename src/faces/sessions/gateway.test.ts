import { SignJWT, UnsecuredJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { registry } from "../../core/metrics/registry";
import { CloseCode } from "./close-codes";
import { loadMessageValidators, type MessageValidators } from "./schemas";
import type { ToolOutcome, ToolOutcomeRecorder, ToolPolicyContext } from "./tool-policy";
import { type IdeOptions, sessionsFixture } from "./sessions-fixture";
import { AUDIENCE, ISSUER, keyOf, refusedUpgrade, type TestGateway, isFinal, tokensOf } from "./test-support";

const fx = sessionsFixture();
let validators: MessageValidators;
beforeAll(async () => {
  validators = await loadMessageValidators();
});

async function ide(g: TestGateway, sessionId: string, opts: IdeOptions = {}) {
  return fx.ide(g, sessionId, {
    token: opts.token ?? (opts.protocols ? undefined : await fx.idp.mint()),
    ...opts,
  });
}

describe("upgrade authentication (refused before 101)", () => {
  it.each([
    ["no token", async () => ({})],
    ["a malformed Authorization header", async () => ({ authorization: "Token abc" })],
    ["a garbage bearer token", async () => ({ authorization: "Bearer not-a-jwt" })],
    ["an expired token", async () => ({ authorization: `Bearer ${await fx.idp.mint({ expInSeconds: -60 })}` })],
    ["a wrong issuer", async () => ({ authorization: `Bearer ${await fx.idp.mint({ iss: "https://evil.test" })}` })],
    ["a wrong audience", async () => ({ authorization: `Bearer ${await fx.idp.mint({ aud: "other" })}` })],
    ["an unknown kid", async () => ({ authorization: `Bearer ${await fx.idp.mint({ kid: "who" })}` })],
    [
      "alg none",
      async () => ({
        authorization: `Bearer ${new UnsecuredJWT({}).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject("alice").setExpirationTime("5m").encode()}`,
      }),
    ],
    [
      "HS256",
      async () => ({
        authorization: `Bearer ${await new SignJWT({})
          .setProtectedHeader({ alg: "HS256", kid: "test-key-1" })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject("alice")
          .setExpirationTime("5m")
          .sign(new TextEncoder().encode("0123456789abcdef0123456789abcdef"))}`,
      }),
    ],
  ])("answers 401 problem+json for %s", async (_case, headers) => {
    const g = await fx.gateway();
    const res = await refusedUpgrade(`${g.wsBase}/ws/s1`, { headers: await headers() });
    expect(res.status).toBe(401);
    expect(res.headers["content-type"]).toBe("application/problem+json");
    expect(res.body).toMatchObject({ status: 401 });
    expect(["UNAUTHORIZED", "TOKEN_INVALID", "TOKEN_EXPIRED"]).toContain(res.body.code);
  });

  it("says TOKEN_EXPIRED for an expired token", async () => {
    const g = await fx.gateway();
    const res = await refusedUpgrade(`${g.wsBase}/ws/s1`, {
      headers: { authorization: `Bearer ${await fx.idp.mint({ expInSeconds: -60 })}` },
    });
    expect(res.body).toMatchObject({ code: "TOKEN_EXPIRED", detail: "JWT token has expired" });
  });

  it("refuses an ID token (aud the API's, with a nonce) as what it is: not an access token", async () => {
    const g = await fx.gateway();
    const idToken = await fx.idp.mint({ extra: { nonce: "n-0S6_WzA2Mj", at_hash: "77QmUPtjPfzWtF2AnpK9RQ" } });
    const res = await refusedUpgrade(`${g.wsBase}/ws/s1`, { headers: { authorization: `Bearer ${idToken}` } });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      code: "TOKEN_INVALID",
      detail: "JWT is an ID token (it carries nonce), not an access token",
    });
  });

  it("never takes the token from the query string", async () => {
    const g = await fx.gateway();
    const res = await refusedUpgrade(
      `${g.wsBase}/ws/s1?token=${await fx.idp.mint()}&access_token=${await fx.idp.mint()}`,
    );
    expect(res.status).toBe(401);
  });

  it("accepts the browser form (token in Sec-WebSocket-Protocol) and echoes gatehouse.v1, not the token", async () => {
    const g = await fx.gateway();
    const token = await fx.idp.mint();
    const c = await ide(g, "browser-1", { protocols: ["gatehouse.v1", `bearer.${token}`] });
    expect(c.ws.protocol).toBe("gatehouse.v1");
  });

  it("another user's id is a session of their own (no 403 telling it is taken); unknown paths get 404", async () => {
    const g = await fx.gateway();
    const alice = await ide(g, "owned-by-alice", { token: await fx.idp.mint({ sub: "alice" }) });
    const mallory = await ide(g, "owned-by-alice", { token: await fx.idp.mint({ sub: "mallory" }) });
    expect(mallory.ws.readyState).toBe(mallory.ws.OPEN);
    expect(alice.ws.readyState).toBe(alice.ws.OPEN);
    const notFound = await refusedUpgrade(`${g.wsBase}/api/v1/ws/x`, {
      headers: { authorization: `Bearer ${await fx.idp.mint()}` },
    });
    expect(notFound.status).toBe(404);
  });
});

describe("relay", () => {
  it("runs a whole chat turn: ack, streamed tokens, is_final — every frame seq-numbered and valid per the spec", async () => {
    const g = await fx.gateway();
    const c = await ide(g, "chat-1");
    c.send({ type: "user_message", content: "Привет", role: "user", message_id: "m-1" });
    await c.next(isFinal);
    await c.next((f) => f.type === "agent_status" && f.status === "idle");
    expect(c.frames[0]).toMatchObject({ type: "ack", message_id: "m-1", ack_type: "user_message", seq: 1 });
    expect(tokensOf(c.frames)).toBe("Вы написали: Привет. слово1 слово2 слово3 слово4 слово5 слово6");
    expect(c.frames.map((f) => f.seq)).toEqual(c.frames.map((_, i) => i + 1));
    for (const f of c.frames) expect(validators.validate("ide_out", f)).toMatchObject({ ok: true });
  });

  it("delivers hitl_decision to the runtime while the reply is still streaming, then finishes the tool flow", async () => {
    const g = await fx.gateway({ tokenDelayMs: 30 });
    const c = await ide(g, "hitl-1");
    c.send({ type: "user_message", content: "Создай файл main.dart", role: "user" });
    const call = await c.next((f) => f.type === "tool_call");
    expect(call).toMatchObject({ tool_name: "write_file", requires_approval: true, arguments: { path: "main.dart" } });
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    const atRuntime = g.runtime!.received.find((r) => r.frame.type === "hitl_decision");
    expect(atRuntime?.duringStream).toBe(true);
    // Tokens kept flowing after the decision was sent: the stream was not blocked by it.
    const decisionSent = c.frames.findIndex((f) => f.type === "agent_status" && f.status === "executing_tool");
    expect(c.frames.slice(0, decisionSent).filter((f) => f.type === "assistant_message").length).toBeGreaterThan(3);
    c.send({ type: "tool_result", call_id: call.call_id, result: { content: "file content" } });
    await c.next(isFinal);
    expect(tokensOf(c.frames)).toContain("Готово: main.dart (write_file).");
  });

  it("stops a streaming reply on cancel", async () => {
    const g = await fx.gateway({ tokenDelayMs: 20 });
    const c = await ide(g, "cancel-1");
    c.send({ type: "user_message", content: "tell me something long" });
    await c.next((f) => f.type === "assistant_message" && String(f.token).startsWith("слово3"));
    c.send({ type: "cancel", reason: "stop" });
    await c.next(isFinal);
    expect(c.frames.filter((f) => f.type === "assistant_message").length).toBeLessThan(60);
    expect(g.runtime!.received.find((r) => r.frame.type === "cancel")?.duringStream).toBe(true);
  });

  it("answers an invalid frame with INVALID_MESSAGE and keeps the socket open", async () => {
    const g = await fx.gateway();
    const c = await ide(g, "invalid-1");
    c.send("not json");
    c.send({ type: "hitl_decision", call_id: "c", decision: "maybe" });
    c.send({ type: "launch_missiles" });
    await c.next((f) => f.type === "error" && String(f.content).includes("launch"));
    const errors = c.frames.filter((f) => f.type === "error");
    expect(errors.map((e) => e.error_code)).toEqual(["INVALID_MESSAGE", "INVALID_MESSAGE", "INVALID_MESSAGE"]);
    expect(errors[1]?.details).toMatchObject({ errors: [{ pointer: "/decision" }] });
    expect(errors[1]?.message).toBe(errors[1]?.content);
    c.send({ type: "user_message", content: "still here?" });
    await c.next(isFinal);
  });

  it("answers a huge invalid frame with a small INVALID_MESSAGE, not with the frame echoed several times over", async () => {
    const g = await fx.gateway();
    const c = await ide(g, "invalid-huge");
    const unknownKeys = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`key${i}`, 0]));
    c.send({ type: "x".repeat(900_000) });
    c.send({ type: "cancel", ...unknownKeys });
    await c.next((f) => f.type === "error" && String(f.content).includes("unknown property key0"));
    const errors = c.frames.filter((f) => f.type === "error");
    expect(errors.map((e) => e.error_code)).toEqual(["INVALID_MESSAGE", "INVALID_MESSAGE"]);
    for (const e of errors) expect(JSON.stringify(e).length).toBeLessThan(4096);
    expect(String(errors[0]?.message)).toContain("unknown message type 'xxxx");
    // The first problems are named, and how many more there were.
    expect(errors[1]?.details).toMatchObject({
      errors: expect.arrayContaining([{ pointer: "/", message: "unknown property key0" }]),
    });
    expect(String(errors[1]?.message)).toContain("and 49990 more problems");
    c.send({ type: "user_message", content: "still here?" });
    await c.next(isFinal);
  });

  it("rejects a hitl_decision for a call Gatehouse never passed on", async () => {
    const g = await fx.gateway();
    const c = await ide(g, "callid-1");
    c.send({ type: "hitl_decision", call_id: "call_456", decision: "approve" });
    const err = await c.next((f) => f.type === "error");
    expect(err.error_code).toBe("INVALID_CALL_ID");
    expect(g.runtime!.received.some((r) => r.frame.type === "hitl_decision")).toBe(false);
  });

  it("never hands a DENIED tool_call to the IDE and tells the runtime", async () => {
    const g = await fx.gateway({ toolPolicy: async () => ({ decision: "DENY", reasons: ["TOOL_NOT_ALLOWED"] }) });
    const c = await ide(g, "deny-1");
    c.send({ type: "user_message", content: "write file x.txt" });
    const err = await c.next((f) => f.type === "error" && f.error_code === "TOOL_DENIED");
    expect(err.details).toMatchObject({ tool_name: "write_file", reasons: ["TOOL_NOT_ALLOWED"] });
    await new Promise((r) => setTimeout(r, 100));
    expect(c.frames.some((f) => f.type === "tool_call")).toBe(false);
    const told = g.runtime!.received.find((r) => r.frame.type === "tool_result");
    expect(told?.frame).toMatchObject({ error: { code: "TOOL_DENIED" } });
  });

  it("refuses a runtime tool_call whose call_id is still pending: the IDE's answer names one call only", async () => {
    // A runtime that reuses a pending call_id would have the IDE's approve (and its tool_result, audited as the
    // outcome) apply to the second call's arguments, not to the call the user read.
    const runtimeGot: Record<string, unknown>[] = [];
    const reusing = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => reusing.once("listening", r));
    reusing.on("connection", (ws) =>
      ws.on("message", (data) => {
        const frame = JSON.parse(String(data)) as Record<string, unknown>;
        runtimeGot.push(frame);
        if (frame.type !== "user_message") return;
        for (const path of ["notes.txt", ".ssh/authorized_keys"]) {
          const call = { call_id: "c-1", tool_name: "write_file", arguments: { path, content: "x" } };
          ws.send(JSON.stringify({ type: "tool_call", ...call }));
        }
      }),
    );
    try {
      const decided: string[] = [];
      const g = await fx.gateway({
        withRuntime: false,
        agentRuntimeUrl: `http://127.0.0.1:${(reusing.address() as { port: number }).port}`,
        toolPolicy: async (ctx) => {
          decided.push(String(ctx.arguments.path));
          return { decision: "ESCALATE", reasons: ["TOOL_REQUIRES_APPROVAL"] };
        },
      });
      const c = await ide(g, "reused-call-id");
      c.send({ type: "user_message", content: "write notes" });
      await expect
        .poll(() => runtimeGot.find((f) => f.type === "tool_result"))
        .toMatchObject({
          call_id: "c-1",
          error: { code: "INVALID_CALL_ID" },
        });
      expect(decided).toEqual(["notes.txt"]);
      expect(c.frames.filter((f) => f.type === "tool_call").map((f) => f.arguments)).toEqual([
        { path: "notes.txt", content: "x" },
      ]);
    } finally {
      reusing.close();
    }
  });

  it("holds at most maxPendingCallsPerSession unanswered tool calls: the runtime's next one is refused", async () => {
    // Each pending call keeps its arguments (up to the runtime link's 16 MiB frame) until the IDE answers it or the
    // session ends: a runtime that keeps asking made the gateway hold them all (1,000 calls of 200 KB: +550 MB of RSS).
    const runtimeGot: Record<string, unknown>[] = [];
    const asking = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => asking.once("listening", r));
    let next = 0;
    asking.on("connection", (ws) =>
      ws.on("message", (data) => {
        const frame = JSON.parse(String(data)) as Record<string, unknown>;
        runtimeGot.push(frame);
        // Four calls for the prompt; one more for each result the IDE sent (not for Gatehouse's refusals).
        const answered = frame.type === "tool_result" && frame.error === undefined;
        const count = frame.type === "user_message" ? 4 : answered ? 1 : 0;
        for (let i = 0; i < count; i++) {
          const call = { call_id: `c-${++next}`, tool_name: "read_file", arguments: { path: `f${next}.ts` } };
          ws.send(JSON.stringify({ type: "tool_call", ...call }));
        }
      }),
    );
    try {
      const g = await fx.gateway({
        withRuntime: false,
        agentRuntimeUrl: `http://127.0.0.1:${(asking.address() as { port: number }).port}`,
        options: { maxPendingCallsPerSession: 3 },
      });
      const c = await ide(g, "pending-cap");
      c.send({ type: "user_message", content: "read four files" });
      await expect
        .poll(() => runtimeGot.filter((f) => f.type === "tool_result"))
        .toEqual([
          expect.objectContaining({
            call_id: "c-4",
            error: expect.objectContaining({ code: "TOO_MANY_PENDING_CALLS" }),
          }),
        ]);
      expect(c.frames.filter((f) => f.type === "tool_call").map((f) => f.call_id)).toEqual(["c-1", "c-2", "c-3"]);
      // An answered call makes room again.
      c.send({ type: "tool_result", call_id: "c-1", result: { content: "one" } });
      await c.next((f) => f.type === "tool_call" && f.call_id === "c-5");
    } finally {
      asking.close();
    }
  });

  it("stops reading the runtime while its frames wait for a tool policy: the backlog is bounded, not read ahead", async () => {
    // Frames from the runtime are handled one after another; a tool_call waits for the policy. The link was read
    // whatever the backlog, so a runtime writing fast had its frames held in memory until the policy caught up.
    let runtimeSocket: import("ws").WebSocket | undefined;
    const fast = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => fast.once("listening", r));
    fast.on("connection", (ws) => {
      runtimeSocket = ws;
      ws.on("message", () => {
        const pad = "p".repeat(100 * 1024);
        for (let i = 0; i < 200; i++) {
          const call = { call_id: `c-${i}`, tool_name: "read_file", arguments: { path: `f${i}.ts`, pad } };
          ws.send(JSON.stringify({ type: "tool_call", ...call }));
        }
      });
    });
    let releasePolicy: () => void = () => undefined;
    const decided: string[] = [];
    const policyHeld = new Promise<void>((r) => (releasePolicy = r));
    try {
      const g = await fx.gateway({
        withRuntime: false,
        agentRuntimeUrl: `http://127.0.0.1:${(fast.address() as { port: number }).port}`,
        options: { maxBufferedBytes: 256 * 1024, maxPendingCallsPerSession: 1000 },
        toolPolicy: async (call) => {
          await policyHeld;
          decided.push(call.callId);
          return { decision: "ALLOW", reasons: [] };
        },
      });
      const c = await ide(g, "runtime-backlog");
      let ideClose: number | undefined;
      void c.closed.then(({ code }) => (ideClose = code));
      c.send({ type: "user_message", content: "read everything" });
      await expect.poll(() => runtimeSocket).toBeDefined();
      await new Promise((r) => setTimeout(r, 500));
      // 20 MB written; the gateway took its 256 KiB backlog and what the kernel's buffers hold, no more.
      expect(runtimeSocket!.bufferedAmount).toBeGreaterThan(10 * 1024 * 1024);
      releasePolicy();
      // Once the policy answers, the link is read again to its end: every call is decided, in the runtime's order.
      await expect.poll(() => decided.length, { timeout: 60_000 }).toBe(200);
      expect(decided).toEqual(Array.from({ length: 200 }, (_, i) => `c-${i}`));
      // The IDE got them in order. On a loaded machine it may not read 20 MB fast enough: more than 256 KiB waiting
      // for it makes it a slow consumer, closed 1013 (resumable), so it then has a gap-free prefix.
      const relayed = () => c.frames.filter((f) => f.type === "tool_call").map((f) => f.call_id);
      await expect.poll(() => relayed().length === 200 || ideClose === 1013, { timeout: 60_000 }).toBe(true);
      expect(relayed()).toEqual(Array.from({ length: relayed().length }, (_, i) => `c-${i}`));
    } finally {
      releasePolicy();
      fast.close();
    }
  }, 120_000);

  it("passes ESCALATE's approval id to the IDE and back to the runtime", async () => {
    const g = await fx.gateway({
      toolPolicy: async () => ({ decision: "ESCALATE", approvalId: "apr_1", reasons: ["AMOUNT"] }),
    });
    const c = await ide(g, "escalate-1");
    c.send({ type: "user_message", content: "файл a.txt" });
    const call = await c.next((f) => f.type === "tool_call");
    expect(call).toMatchObject({ requires_approval: true, approval_id: "apr_1" });
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "reject", feedback: "нет" });
    await c.next(isFinal);
    expect(g.runtime!.received.find((r) => r.frame.type === "hitl_decision")?.frame).toMatchObject({
      approval_id: "apr_1",
    });
    expect(tokensOf(c.frames)).toContain("нет");
  });

  it("reports AGENT_UNAVAILABLE when the runtime is down, and health says so", async () => {
    const g = await fx.gateway({ withRuntime: false });
    const c = await ide(g, "down-1");
    c.send({ type: "user_message", content: "hello" });
    const err = await c.next((f) => f.type === "error");
    expect(err.error_code).toBe("AGENT_UNAVAILABLE");
    expect(await g.gateway.health()).toEqual({ agent_runtime: "unavailable", redis: "not_configured" });
    const up = await fx.gateway();
    expect((await up.gateway.health()).agent_runtime).toBe("available");
  });
});

describe("resume", () => {
  it("replays every missed frame in order after a dropped socket — no gaps, no duplicates", async () => {
    const g = await fx.gateway({ tokenDelayMs: 10 });
    const token = await fx.idp.mint();
    const first = await ide(g, "resume-1", { token });
    first.send({ type: "user_message", content: "something long please" });
    await first.next((f) => f.type === "assistant_message" && String(f.token).startsWith("слово5"));
    const seen = [...first.frames];
    first.ws.terminate(); // the network drops; the runtime keeps going
    await new Promise((r) => setTimeout(r, 300));

    const lastSeq = seen.at(-1)!.seq!;
    const second = await ide(g, "resume-1", { token, headers: { "x-gatehouse-last-seq": String(lastSeq) } });
    await second.next(isFinal);
    const resumed = second.frames.find((f) => f.type === "session_resumed")!;
    expect(resumed).toMatchObject({ last_seq: lastSeq });
    expect(resumed.replayed).toBeGreaterThan(0);

    const all = [...seen, ...second.frames.filter((f) => f.type !== "session_resumed")];
    const seqs = all.map((f) => f.seq!);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual(seqs.slice().sort((a, b) => a - b));
    // Every session frame from 1 to the end is there, without a gap: session_resumed is outside the stream
    // (no seq), so nothing numbered is ever missing from a replay.
    expect(resumed.seq).toBeUndefined();
    expect(seqs).toEqual(Array.from({ length: Math.max(...seqs) }, (_, i) => i + 1));
    expect(tokensOf(all)).toMatch(/^Вы написали: something long please\. слово1 (слово\d+ ){118}слово120$/);
  });

  it("supports in-band resume: replays only the gap before the new socket", async () => {
    const g = await fx.gateway({ tokenDelayMs: 5 });
    const token = await fx.idp.mint();
    const first = await ide(g, "resume-2", { token });
    first.send({ type: "user_message", content: "hi" });
    await first.next((f) => f.type === "ack");
    first.ws.terminate();
    await new Promise((r) => setTimeout(r, 300)); // the short turn finishes while nobody listens
    const second = await ide(g, "resume-2", { token });
    second.send({ type: "resume", last_seq: 1 });
    const resumed = await second.next((f) => f.type === "session_resumed");
    const replayed = second.frames.slice(0, second.frames.indexOf(resumed));
    expect(replayed.map((f) => f.seq)).toEqual(Array.from({ length: replayed.length }, (_, i) => i + 2));
    expect(replayed.some(isFinal)).toBe(true);
  });

  it("replays the gap once per socket: a second resume (in-band, or after the header's) repeats nothing", async () => {
    const g = await fx.gateway({ tokenDelayMs: 1 });
    const token = await fx.idp.mint();
    const first = await ide(g, "resume-twice", { token });
    first.send({ type: "user_message", content: "hi" });
    await first.next((f) => f.type === "ack");
    first.ws.terminate();
    await new Promise((r) => setTimeout(r, 300)); // the turn finishes while nobody listens
    const second = await ide(g, "resume-twice", { token, headers: { "x-gatehouse-last-seq": "1" } });
    await second.next((f) => f.type === "session_resumed");
    second.send({ type: "resume", last_seq: 1 });
    second.send({ type: "resume", last_seq: 1 });
    await second.next((f) => f.type === "session_resumed" && f.replayed === 0);
    await new Promise((r) => setTimeout(r, 100));
    const resumes = second.frames.filter((f) => f.type === "session_resumed");
    expect(resumes.map((f) => f.replayed)).toEqual([expect.any(Number), 0, 0]);
    expect(resumes[0]!.replayed).toBeGreaterThan(0);
    const seqs = second.frames.filter((f) => f.seq !== undefined).map((f) => f.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it("answers resync_required when the frames are gone from the buffer", async () => {
    const g = await fx.gateway({ tokenDelayMs: 1, options: { replayMaxFrames: 5 } });
    const token = await fx.idp.mint();
    const first = await ide(g, "resume-3", { token });
    first.send({ type: "user_message", content: "hello there" });
    await first.next(isFinal);
    first.ws.terminate();
    await new Promise((r) => setTimeout(r, 100));
    const second = await ide(g, "resume-3", { token, protocols: ["gatehouse.v1", "last-seq.1"] });
    const resync = await second.next((f) => f.type === "resync_required");
    expect(resync).toMatchObject({ session_id: "resume-3", last_seq: 1 });
    expect(resync.oldest_seq as number).toBeGreaterThan(2);
    expect(resync.seq).toBeUndefined();
  });

  it("resuming an unknown session: 404 SESSION_NOT_FOUND before the 101; in-band, a notice, then seq 1", async () => {
    const g = await fx.gateway();
    const refused = await refusedUpgrade(`${g.wsBase}/ws/never-seen`, {
      headers: { authorization: `Bearer ${await fx.idp.mint()}`, "x-gatehouse-last-seq": "41" },
    });
    expect(refused).toMatchObject({ status: 404, body: { code: "SESSION_NOT_FOUND" } });
    const c = await ide(g, "never-seen");
    c.send({ type: "resume", last_seq: 41 });
    const err = await c.next((f) => f.type === "error");
    expect(err).toMatchObject({ error_code: "SESSION_NOT_FOUND", details: { session_id: "never-seen" } });
    expect(err.seq).toBeUndefined();
    c.send({ type: "user_message", content: "hi" });
    expect(await c.next((f) => f.type === "ack")).toMatchObject({ seq: 1 });
  });

  it("sends TOKEN_EXPIRED and closes 4401 at the token's exp; a new token resumes the session", async () => {
    const g = await fx.gateway();
    const c = await ide(g, "expiry-1", { token: await fx.idp.mint({ expInSeconds: 2 }) });
    c.send({ type: "user_message", content: "hi" });
    await c.next(isFinal);
    const err = await c.next((f) => f.type === "error", 4000);
    expect(err).toMatchObject({ error_code: "TOKEN_EXPIRED", message: "JWT token has expired" });
    expect((await c.closed).code).toBe(CloseCode.TOKEN_EXPIRED);
    // The TOKEN_EXPIRED notice carries no seq: the last seq seen is the last stream frame.
    expect(err.seq).toBeUndefined();
    const lastSeq = c.frames.filter((f) => f.seq !== undefined).at(-1)!.seq!;
    const again = await ide(g, "expiry-1", {
      token: await fx.idp.mint(),
      headers: { "x-gatehouse-last-seq": String(lastSeq) },
    });
    // The stale TOKEN_EXPIRED notice is connection-scoped: it is not replayed into the new socket.
    expect(await again.next((f) => f.type === "session_resumed")).toMatchObject({ replayed: 0 });
    expect(again.frames.some((f) => f.error_code === "TOKEN_EXPIRED")).toBe(false);
  }, 10_000);
});

describe("limits and lifecycle", () => {
  it("answers the 4th connection per IP per minute with 429 + Retry-After before the upgrade", async () => {
    const g = await fx.gateway({ options: { connectionsPerIpPerMinute: 3 } });
    for (let i = 0; i < 3; i++) await ide(g, `ip-${i}`);
    const res = await refusedUpgrade(`${g.wsBase}/ws/ip-4`, {
      headers: { authorization: `Bearer ${await fx.idp.mint()}` },
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    expect(res.body.code).toBe("RATE_LIMIT_EXCEEDED");
  });

  it("answers frames over the per-session budget with RATE_LIMIT_EXCEEDED + retry_after and keeps the socket", async () => {
    const g = await fx.gateway({ options: { messagesPerSessionPerMinute: 3 } });
    const c = await ide(g, "msg-limit");
    for (let i = 0; i < 4; i++) c.send({ type: "cancel" });
    const err = await c.next((f) => f.type === "error");
    expect(err).toMatchObject({ error_code: "RATE_LIMIT_EXCEEDED", message: "Too many requests. Please slow down." });
    expect(err.retry_after as number).toBeGreaterThan(0);
    expect(c.frames.filter((f) => f.type === "ack")).toHaveLength(3);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it("a text frame that is not UTF-8 closes with 1007, counted as 1007; a client's own close code is 'other'", async () => {
    const g = await fx.gateway({});
    const closes = async () =>
      Object.fromEntries(
        (await registry.getSingleMetric("gatehouse_ws_closes_total")!.get()).values.map((v) => [
          v.labels.code,
          v.value,
        ]),
      );
    const before = await closes();
    const c = await ide(g, "utf8-1");
    c.ws.send(Buffer.from('{"type":"\xed\xa0\x80"}', "latin1"), { binary: false });
    expect((await c.closed).code).toBe(1007);
    const own = await ide(g, "own-code-1");
    own.ws.close(3999);
    await own.closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = await closes();
    expect(after["1007"]).toBe((before["1007"] ?? 0) + 1);
    expect(after.other).toBe((before.other ?? 0) + 1);
    expect(Object.keys(after)).not.toContain("3999");
  });

  it("closes with 1009 on a frame above maxPayload", async () => {
    const g = await fx.gateway({ options: { maxPayloadBytes: 1024 } });
    const c = await ide(g, "big-1");
    const closesOf1009 = async () =>
      (await registry.getSingleMetric("gatehouse_ws_closes_total")!.get()).values.find((v) => v.labels.code === "1009")
        ?.value ?? 0;
    const before = await closesOf1009();
    c.send({ type: "user_message", content: "x".repeat(4096) });
    expect((await c.closed).code).toBe(1009);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await closesOf1009()).toBe(before + 1); // counted as the code the IDE saw, not as 1006
  });

  it("terminates a socket that stops answering pings", async () => {
    const g = await fx.gateway({ options: { pingIntervalMs: 100 } });
    const c = await ide(g, "ping-1");
    // Simulate a dead peer: stop the client library from answering pings.
    (c.ws as unknown as { _receiver: { removeAllListeners(e: string): void } })._receiver.removeAllListeners("ping");
    const closed = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r("open"), 2000))]);
    expect(closed).not.toBe("open");
  });

  it("close(): sockets get 1012 and new upgrades are refused", async () => {
    const g = await fx.gateway();
    const c = await ide(g, "shutdown-1");
    const closing = g.gateway.close();
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.SERVICE_RESTART);
    // The AsyncAPI close-code table: 1012 with reason `resume`.
    expect(closed.reason).toBe("resume");
    await closing;
    const res = await refusedUpgrade(`${g.wsBase}/ws/shutdown-2`, {
      headers: { authorization: `Bearer ${await fx.idp.mint()}` },
    });
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBeDefined();
  });

  it("drops invalid runtime frames and counts them", async () => {
    const bad = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => bad.once("listening", r));
    bad.on("connection", (ws) =>
      ws.on("message", () => {
        ws.send(JSON.stringify({ type: "assistant_message", token: 42 }));
        ws.send("}{");
        ws.send(JSON.stringify({ type: "assistant_message", token: "ok", is_final: true }));
      }),
    );
    try {
      const port = (bad.address() as { port: number }).port;
      const g = await fx.gateway({ withRuntime: false, agentRuntimeUrl: `http://127.0.0.1:${port}` });
      const c = await ide(g, "bad-runtime");
      c.send({ type: "user_message", content: "hi" });
      await c.next(isFinal);
      expect(c.frames.filter((f) => f.type === "assistant_message")).toHaveLength(1);
      const metrics = await registry.metrics();
      expect(metrics).toMatch(/gatehouse_ws_invalid_frames_total\{[^}]*source="runtime"[^}]*\} [2-9]/);
      expect(metrics).toMatch(/messages_processed_total\{[^}]*status="success"/);
    } finally {
      bad.close();
    }
  });
});

describe("tool outcome", () => {
  /** A turn with a write_file call, approved from the IDE, whose result the IDE then sends. */
  async function runToolCall(g: TestGateway, sessionId: string, result: Record<string, unknown>) {
    const c = await ide(g, sessionId);
    c.send({ type: "user_message", content: "Создай файл main.dart", role: "user" });
    const call = await c.next((f) => f.type === "tool_call");
    c.send({ type: "hitl_decision", call_id: call.call_id, decision: "approve" });
    await c.next((f) => f.type === "agent_status" && f.status === "executing_tool");
    c.send({ type: "tool_result", call_id: call.call_id, message_id: "res-1", ...result });
    await c.next((f) => f.type === "ack" && f.message_id === "res-1");
    await c.next(isFinal);
    return { c, call };
  }

  it("records the IDE's tool_result with the context the call was decided with", async () => {
    const decided: ToolPolicyContext[] = [];
    const recorded: Array<[ToolPolicyContext, ToolOutcome]> = [];
    const g = await fx.gateway({
      toolPolicy: async (ctx) => {
        decided.push(ctx);
        return { decision: "ALLOW", reasons: [] };
      },
      recordOutcome: async (ctx, outcome) => {
        recorded.push([ctx, outcome]);
      },
    });
    const { call } = await runToolCall(g, "outcome-1", { result: { content: "file content" } });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.[0]).toBe(decided[0]);
    expect(recorded[0]?.[0]).toMatchObject({
      sub: "alice",
      sessionId: keyOf("outcome-1"), // the session's key: unique across users (./session-key.ts)
      callId: call.call_id,
      toolName: "write_file",
    });
    expect(recorded[0]?.[1]).toEqual({ success: true, result: { content: "file content" } });
    expect(g.runtime!.received.find((r) => r.frame.type === "tool_result")?.frame).toMatchObject({
      result: { content: "file content" },
    });
  });

  it("reports a failed tool run as an unsuccessful outcome", async () => {
    const recorded: ToolOutcome[] = [];
    const g = await fx.gateway({ recordOutcome: async (_ctx, outcome) => void recorded.push(outcome) });
    await runToolCall(g, "outcome-2", { error: "disk full" });
    expect(recorded).toEqual([{ success: false, error: { message: "disk full" } }]);
  });

  it.each([
    ["rejects", async () => Promise.reject(new Error("audit store down"))],
    [
      "throws",
      () => {
        throw new Error("audit store down");
      },
    ],
  ])("relays the result unchanged when the recorder %s", async (_case, recordOutcome) => {
    const g = await fx.gateway({ recordOutcome: recordOutcome as ToolOutcomeRecorder });
    const { c } = await runToolCall(g, "outcome-3", { result: { content: "file content" } });
    expect(c.frames.some((f) => f.type === "error")).toBe(false);
    expect(tokensOf(c.frames)).toContain("Готово: main.dart (write_file).");
  });
});
