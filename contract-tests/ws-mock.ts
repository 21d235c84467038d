// A WebSocket mock of /ws/{session_id} built from the AsyncAPI examples — Prism does not do WebSockets.
// It plays the real gateway's part in shape and order, with no agent runtime behind it:
//   user_message  → ack, agent_status thinking, tool_call (requires_approval, with its approval_id),
//                   agent_status waiting_approval, assistant_message (token: the agent talks while you decide)
//   hitl_decision → ack, then approve: agent_status executing_tool; edit: the tool_call again with the edited
//                   arguments and requires_approval false, then executing_tool; reject: a token, the final
//                   assistant_message and idle. One naming an approval_id other than its call's own is refused:
//                   error INVALID_CALL_ID (no seq, no ack), nothing decided
//   tool_result   → ack, assistant_message (token), final assistant_message, agent_status idle
// That is the order the real gateway sends with the reference agent runtime (checked by ws-mock-vs-gateway.test.ts).
//   cancel        → ack, and if a turn is open: final assistant_message, agent_status idle
//   switch_agent  → ack, agent_switched
//   resume / X-Gatehouse-Last-Seq / last-seq.<n> → replay of the frames after last_seq, then session_resumed
//                   (resync_required when last_seq is ahead of what was sent or no longer buffered)
// Every frame it sends is a documented example payload with only the fields that must change overridden
// (call_id, message_id, status, is_final, ...). Sequence numbers are per session id, across reconnects.
//
// Authentication is checked for PRESENCE only: the upgrade needs `Authorization: Bearer <anything>` or the
// subprotocols `gatehouse.v1, bearer.<anything>` (echoed: `gatehouse.v1`), else HTTP 401 problem+json before
// the 101. The token is NOT verified — this is a mock; the real gateway checks the JWT against JWKS_URL.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { resolve } from "node:path";
import type { Duplex } from "node:stream";
import { fromFile, Parser } from "@asyncapi/parser";
import { Ajv2020 } from "ajv/dist/2020.js";
import { type WebSocket, WebSocketServer } from "ws";
import { refuseUpgrade } from "../src/faces/sessions/upgrade";
import { HttpProblem, type ProblemCode } from "../src/http/problem";

const root = resolve(import.meta.dirname, "..");
const SUBPROTOCOL = "gatehouse.v1";
/** Frames kept per session for resume (the real gateway keeps 1000 frames or 2 minutes). */
const REPLAY_BUFFER = 1000;

type Frame = Record<string, unknown> & { type?: string };

interface SentFrame {
  seq: number;
  data: string;
  /** Answers to one socket (invalid frames, resume results) are numbered but never replayed, as in the gateway. */
  replayable: boolean;
}

interface PendingCall {
  toolCall: Frame;
  awaitingApproval: boolean;
}

interface MockSession {
  id: string;
  nextSeq: number;
  sent: SentFrame[];
  socket?: WebSocket | undefined;
  pending: Map<string, PendingCall>;
  turnOpen: boolean;
  calls: number;
  agent: string;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** Loads the document's examples by message id and picks one by name, copied so overrides never leak. */
async function loadExamples() {
  const { document } = await fromFile(new Parser(), resolve(root, "spec/sessions.asyncapi.yaml")).parse();
  if (!document) throw new Error("spec/sessions.asyncapi.yaml does not parse");
  const examples = new Map<string, Map<string, Frame>>();
  for (const m of document.components().messages().all()) {
    examples.set(
      m.id(),
      new Map(
        m
          .examples()
          .all()
          .map((e) => [e.name() ?? "", e.payload() as Frame]),
      ),
    );
  }
  return (message: string, name: string, overrides: Frame = {}): Frame => {
    const payload = examples.get(message)?.get(name);
    if (!payload) throw new Error(`spec/sessions.asyncapi.yaml has no example ${message}/${name}`);
    // The example's own seq is illustrative; the mock numbers frames itself.
    const { seq: _seq, ...rest } = structuredClone(payload);
    return { ...rest, ...overrides };
  };
}

function offeredProtocols(req: IncomingMessage): string[] {
  return (req.headers["sec-websocket-protocol"] ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

/** Presence check only (see the header comment): a mock accepts any bearer token. */
function requireBearer(req: IncomingMessage): void {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    if (!/^Bearer\s+\S+\s*$/i.test(auth))
      throw new Refusal(401, "UNAUTHORIZED", "Authorization header must be 'Bearer <access_token>'");
    return;
  }
  const protocols = offeredProtocols(req);
  if (protocols.some((p) => p.startsWith("bearer.") && p.length > "bearer.".length)) {
    if (!protocols.includes(SUBPROTOCOL))
      throw new Refusal(400, "INVALID_MESSAGE", `Offer the '${SUBPROTOCOL}' subprotocol next to the bearer token`);
    return;
  }
  throw new Refusal(401, "UNAUTHORIZED", "Missing bearer token (Authorization header or bearer.<token> subprotocol)");
}

function requestedLastSeq(req: IncomingMessage): number | undefined {
  const header = req.headers["x-gatehouse-last-seq"];
  const fromProtocol = offeredProtocols(req)
    .find((p) => p.startsWith("last-seq."))
    ?.slice("last-seq.".length);
  const raw = typeof header === "string" ? header : fromProtocol;
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim()))
    throw new Refusal(400, "INVALID_MESSAGE", "last seq must be a non-negative integer");
  return Number(raw.trim());
}

/** The gateway's own refusal (src/faces/sessions/upgrade.ts): the same problem+json, status line and challenge. */
function refuse(socket: Duplex, refusal: Refusal): void {
  refuseUpgrade(socket, new HttpProblem(refusal.status, refusal.message, { code: refusal.code as ProblemCode }));
}

export async function startWsMock(port: number): Promise<Server> {
  const example = await loadExamples();
  const index = JSON.parse(readFileSync(resolve(root, "generated/messages/index.json"), "utf8")) as Record<
    string,
    { type: string; channel: string; action: string }
  >;
  const ajv = new Ajv2020({ strict: false });
  const incoming = Object.entries(index).filter(([, v]) => v.channel === "session" && v.action === "receive");
  const validators = new Map(
    incoming.map(([name, v]) => {
      const schema = JSON.parse(readFileSync(resolve(root, `generated/messages/${v.type}.schema.json`), "utf8"));
      const type = (schema.properties?.type?.const ?? name) as string;
      return [type, ajv.compile(schema)] as const;
    }),
  );
  const sessions = new Map<string, MockSession>();

  function sessionFor(id: string): MockSession {
    let session = sessions.get(id);
    if (!session) {
      const switched = example("AgentSwitched", "agent_switched_coder");
      session = {
        id,
        nextSeq: 1,
        sent: [],
        pending: new Map(),
        turnOpen: false,
        calls: 0,
        agent: String(switched.previous_agent),
      };
      sessions.set(id, session);
    }
    return session;
  }

  /** Like the gateway: a stream frame is numbered and buffered; a connection notice carries no seq and takes none. */
  function emit(session: MockSession, frame: Frame, replayable = true): void {
    let data = JSON.stringify(frame);
    if (replayable) {
      const seq = session.nextSeq++;
      data = JSON.stringify({ ...frame, seq });
      session.sent.push({ seq, data, replayable });
      if (session.sent.length > REPLAY_BUFFER) session.sent.shift();
    }
    const socket = session.socket;
    if (socket && socket.readyState === socket.OPEN) socket.send(data);
  }

  function sendError(session: MockSession, errorCode: string, text: string, details: Frame): void {
    const frame = example("Error", "error_canonical_invalid_message", {
      error_code: errorCode,
      message: text,
      content: text,
      details,
    });
    emit(session, frame, false);
  }

  function ack(session: MockSession, frame: Frame): void {
    const messageId = typeof frame.message_id === "string" ? frame.message_id : randomUUID();
    emit(session, example("Ack", "ack_user_message", { message_id: messageId, ack_type: frame.type }));
  }

  /** Ends the turn; after a tool's result or a rejection the agent says something first (not after a cancel). */
  function endTurn(session: MockSession, reply: boolean): void {
    session.turnOpen = false;
    session.pending.clear();
    if (reply) emit(session, example("AssistantMessage", "seed002_assistant_message"));
    emit(session, example("AssistantMessage", "assistant_message_final"));
    emit(session, example("AgentStatus", "agent_status_thinking", { status: "idle" }));
  }

  function resume(session: MockSession, lastSeq: number, liveFrom: number): void {
    const lastSent = session.nextSeq - 1;
    const oldest = session.sent[0]?.seq;
    const gapLost = oldest !== undefined && lastSeq + 1 < oldest;
    if (lastSeq > lastSent || (lastSeq > 0 && lastSent === 0) || gapLost) {
      const frame = example("ResyncRequired", "resync_required_window_passed", {
        session_id: session.id,
        last_seq: lastSeq,
        message: `Frames after seq ${lastSeq} are no longer available; reload the session state.`,
      });
      if (oldest === undefined) delete frame.oldest_seq;
      else frame.oldest_seq = oldest;
      return emit(session, frame, false);
    }
    // Frames already delivered live on this socket are not repeated; only the gap before it is replayed.
    const replay = session.sent.filter((f) => f.replayable && f.seq > lastSeq && f.seq < liveFrom);
    for (const f of replay) session.socket?.send(f.data);
    emit(
      session,
      example("SessionResumed", "session_resumed_after_41", {
        session_id: session.id,
        last_seq: lastSeq,
        replayed: replay.length,
      }),
      false,
    );
  }

  function onUserMessage(session: MockSession): void {
    session.turnOpen = true;
    emit(session, example("AgentStatus", "agent_status_thinking"));
    const callId = `call_${++session.calls}`;
    // As the gateway: a call that needs approval carries the id of the approval it created.
    const toolCall = example("ToolCall", "seed002_tool_call", {
      call_id: callId,
      requires_approval: true,
      approval_id: `appr-${randomUUID()}`,
    });
    session.pending.set(callId, { toolCall, awaitingApproval: true });
    emit(session, toolCall);
    emit(session, example("AgentStatus", "agent_status_thinking", { status: "waiting_approval" }));
    emit(session, example("AssistantMessage", "seed002_assistant_message"));
  }

  function onHitlDecision(session: MockSession, frame: Frame, pending: PendingCall): void {
    pending.awaitingApproval = false;
    if (frame.decision === "reject") return endTurn(session, true);
    if (frame.decision === "edit") {
      // As when the gateway's policy releases an edited call: the runnable call, with the new arguments.
      emit(session, { ...pending.toolCall, arguments: frame.modified_arguments, requires_approval: false });
    }
    emit(session, example("AgentStatus", "agent_status_thinking", { status: "executing_tool" }));
  }

  /** As the gateway: a decision or result must answer a tool_call this session is waiting on. */
  function callIdProblem(session: MockSession, frame: Frame): string | undefined {
    if (frame.type !== "hitl_decision" && frame.type !== "tool_result") return undefined;
    const pending = session.pending.get(String(frame.call_id));
    if (!pending) return `No pending tool call ${String(frame.call_id)}`;
    if (frame.type === "hitl_decision" && !pending.awaitingApproval)
      return `Tool call ${String(frame.call_id)} is not waiting for approval`;
    // As the gateway: a decision naming an approval answers the call's own only, compared exactly (no case folding,
    // no trimming); every call of the mock carries one.
    if (
      frame.type === "hitl_decision" &&
      frame.approval_id !== undefined &&
      frame.approval_id !== pending.toolCall.approval_id
    )
      return `Tool call ${String(frame.call_id)} is waiting for its own approval, not the one this decision names`;
    if (frame.type === "tool_result" && pending.awaitingApproval) {
      return `Tool call ${String(frame.call_id)} is waiting for approval; its result cannot be sent yet`;
    }
    return undefined;
  }

  function onFrame(session: MockSession, data: string, liveFrom: number): void {
    let frame: Frame;
    try {
      frame = JSON.parse(data) as Frame;
    } catch {
      return sendError(session, "INVALID_MESSAGE", "Invalid message: frame is not JSON", {
        errors: [{ pointer: "", message: "not JSON" }],
      });
    }
    const validate = validators.get(String(frame.type));
    if (!validate || !validate(frame)) {
      const errors = (validate?.errors ?? []).map((e) => ({
        pointer: e.instancePath,
        message: e.message ?? "invalid",
      }));
      const summary = validate
        ? errors.map((e) => `${e.pointer} ${e.message}`).join("; ")
        : `unknown type ${String(frame.type)}`;
      return sendError(session, "INVALID_MESSAGE", `Invalid message: ${summary}`, { errors });
    }
    if (frame.type === "resume") return resume(session, frame.last_seq as number, liveFrom);
    const problem = callIdProblem(session, frame);
    if (problem) {
      // The gateway's details: the call, the approval the decision named and the refused frame's message_id.
      const details: Frame = { call_id: frame.call_id };
      if (frame.type === "hitl_decision" && frame.approval_id !== undefined) details.approval_id = frame.approval_id;
      if (frame.message_id !== undefined) details.message_id = frame.message_id;
      return sendError(session, "INVALID_CALL_ID", problem, details);
    }

    ack(session, frame);
    const callId = String(frame.call_id);
    switch (frame.type) {
      case "user_message":
        return onUserMessage(session);
      case "hitl_decision":
        return onHitlDecision(session, frame, session.pending.get(callId)!);
      case "tool_result":
        session.pending.delete(callId);
        return endTurn(session, true);
      case "cancel":
        if (session.turnOpen) endTurn(session, false);
        return;
      case "switch_agent": {
        const previous = session.agent;
        session.agent = String(frame.agent);
        return emit(
          session,
          example("AgentSwitched", "agent_switched_coder", { agent: session.agent, previous_agent: previous }),
        );
      }
    }
  }

  const server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket mock: connect to /ws/{session_id}\n");
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  server.on("upgrade", (req, socket, head) => {
    let sessionId: string;
    let lastSeq: number | undefined;
    try {
      const match = /^\/ws\/([A-Za-z0-9._:-]{1,128})$/.exec(req.url?.split("?")[0] ?? "");
      if (!match) throw new Refusal(404, "NOT_FOUND", "Connect to /ws/{session_id}");
      sessionId = match[1] ?? "";
      requireBearer(req);
      lastSeq = requestedLastSeq(req);
    } catch (err) {
      if (err instanceof Refusal) return refuse(socket, err);
      throw err;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = sessionFor(sessionId);
      // One live socket per session, as in the gateway: the newer one wins.
      session.socket?.close(4409, "replaced by a newer connection");
      session.socket = ws;
      const liveFrom = session.nextSeq;
      ws.on("message", (data) => onFrame(session, String(data), liveFrom));
      ws.on("close", () => {
        if (session.socket === ws) session.socket = undefined;
      });
      if (lastSeq !== undefined) resume(session, lastSeq, liveFrom);
    });
  });
  server.on("close", () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });
  await new Promise<void>((ok) => server.listen(port, "127.0.0.1", ok));
  return server;
}
