// IDE → Gatehouse → runtime: each IDE frame is rate limited, validated, then handled by the handler of its
// type. A frame relayed to the runtime is acknowledged (`ack`) once it was written to the runtime link.
import { randomUUID } from "node:crypto";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import WebSocket, { type RawData } from "ws";
import type { HitlDecision, RuntimeToolResult, ToolResult } from "../../../generated/messages/types";
import { logger } from "../../core/log/logger";
import { requestAgent } from "./agent-switch";
import { type ClientFrame, dispatchFrame, type FrameHandlers, parseFrame, type RuntimeOutFrame } from "./frames";
import { sessionMetrics as metrics } from "./metrics";
import { consumePoint } from "./rate-limits";
import type { RuntimeLink } from "./runtime-link";
import type { RuntimeLinks } from "./runtime-links";
import type { MessageValidators } from "./schemas";
import type { Connection, LiveSession, SessionRegistry } from "./session-state";
import type { ToolCalls } from "./tool-calls";

const log = logger.child({ module: "sessions" });

export interface IdeInboundDeps {
  registry: SessionRegistry;
  validators: Promise<MessageValidators>;
  messageLimiter: RateLimiterAbstract;
  runtime: RuntimeLinks;
  toolCalls: ToolCalls;
  /**
   * Hands a frame to the node holding the session's runtime link when that is another node (./cross-node.ts);
   * true when it did. Absent without a shared store.
   */
  elsewhere?: (session: LiveSession, conn: Connection, frame: ClientFrame) => Promise<boolean>;
}

/** What an IDE frame's handler works with. */
export interface IdeFrameContext extends IdeInboundDeps {
  session: LiveSession;
  conn: Connection;
  receivedAt: number;
}

/** Exhaustive by type: an IDE message added to the spec does not compile until it is handled here. */
export const ideFrameHandlers: FrameHandlers<ClientFrame, [IdeFrameContext], void | Promise<void>> = {
  // Answered by Gatehouse itself: replay what this socket missed before its first live frame.
  resume: (frame, c) => {
    c.registry.resume(c.session, c.conn, frame.last_seq, c.conn.firstLiveSeq);
    metrics.messagesProcessed.inc({ status: "success" });
  },
  user_message: (frame, c) => forward({ ...frame, message_id: messageIdOf(frame) }, c),
  // Remembered on the link before it is written there: only the agent_switched that link answers it with changes
  // the session's agent (./agent-switch.ts).
  switch_agent: (frame, c) =>
    forward({ ...frame, message_id: messageIdOf(frame) }, c, (link) => requestAgent(link, frame.agent)),
  cancel: (frame, c) => {
    // The turn is stopped: what it asked to be approved is no longer wanted (no one may approve or use it).
    c.registry.cancelApprovals(c.session, "the session's turn was cancelled from the IDE");
    return forward({ ...frame, message_id: messageIdOf(frame) }, c);
  },
  hitl_decision: async (frame, c) => {
    const refusal = c.toolCalls.refusal(c.session, frame);
    if (refusal !== undefined) {
      // Audited before the IDE hears it, as REST audits a refused decision before its 409.
      await c.toolCalls.auditRefusal(c.session, frame);
      return refuse(frame, refusal, c);
    }
    const messageId = messageIdOf(frame);
    const pending = c.session.pendingCalls.get(frame.call_id)!;
    if (c.toolCalls.governs(pending)) return decideGoverned(frame, messageId, c);
    await forward(c.toolCalls.settleByIde(c.session, { ...frame, message_id: messageId }), c);
  },
  tool_result: async (frame, c) => {
    if (refuseAnswer(frame, c)) return;
    c.toolCalls.completeWithResult(c.session, frame);
    // The IDE's and the runtime's tool_result are one schema generated twice; tsc cannot relate the two
    // "result or error required" intersections under exactOptionalPropertyTypes, so the cast says they are equal.
    await forward({ ...frame, message_id: messageIdOf(frame) } as RuntimeToolResult & { message_id: string }, c);
  },
};

export async function handleIdeFrame(
  deps: IdeInboundDeps,
  session: LiveSession,
  conn: Connection,
  data: RawData,
  isBinary: boolean,
  receivedAt: number,
) {
  if (conn.ws.readyState !== WebSocket.OPEN) return;
  const retryAfter = await consumePoint(deps.messageLimiter, session.record.id);
  if (retryAfter !== undefined) {
    metrics.messagesProcessed.inc({ status: "rate_limited" });
    deps.registry.sendError(
      session,
      "RATE_LIMIT_EXCEEDED",
      "Too many requests. Please slow down.",
      { retry_after: retryAfter },
      false,
      conn,
    );
    return;
  }
  const parsed = parseFrame(await deps.validators, "ide_in", data, isBinary);
  if (!parsed.ok) {
    metrics.invalidFrames.inc({ source: "ide" });
    metrics.messagesProcessed.inc({ status: "invalid" });
    const summary = parsed.errors.map((e) => `${e.pointer} ${e.message}`).join("; ");
    deps.registry.sendError(
      session,
      "INVALID_MESSAGE",
      `Invalid message: ${summary}`,
      { details: { errors: parsed.errors } },
      false,
      conn,
    );
    return;
  }
  metrics.messages.inc({ direction: "ide_to_gateway", type: parsed.frame.type });
  if (deps.elsewhere && (await deps.elsewhere(session, conn, parsed.frame))) return;
  const handling = dispatchFrame(ideFrameHandlers, parsed.frame, { ...deps, session, conn, receivedAt });
  if (handling) await handling;
}

/** The IDE's own message_id, or one Gatehouse makes up, so every relayed frame can be acknowledged. */
export function messageIdOf(frame: { message_id?: string }): string {
  return typeof frame.message_id === "string" ? frame.message_id : randomUUID();
}

/**
 * Governed: the decision goes to the approvals store, and the runtime hears it once the policy released the call.
 * Acknowledged only once it was recorded (before the call's outcome is told); a decision the approval no longer
 * takes is refused as for a call no longer waiting, and one the store could not record is answered INTERNAL_ERROR
 * (a notice: the call still waits, the IDE may send it again). On another node's socket, the ack reaches the IDE
 * through the stream and the notices through the forward's answer (./cross-node.ts), as here.
 */
async function decideGoverned(frame: HitlDecision, messageId: string, c: IdeFrameContext): Promise<void> {
  const recorded = () => {
    metrics.messagesProcessed.inc({ status: "success" });
    c.registry.emit(c.session, { type: "ack", message_id: messageId, ack_type: frame.type });
  };
  let refusal: string | undefined;
  try {
    refusal = await c.toolCalls.decideGoverned(c.session, frame, messageId, recorded);
  } catch (err) {
    log.error({ err, callId: frame.call_id }, "recording the IDE's decision failed; the call still waits");
    metrics.messagesProcessed.inc({ status: "error" });
    const text = `The decision on tool call ${frame.call_id} could not be recorded; it still waits, send it again`;
    const details = { ...answerDetails(frame), message_id: messageId };
    c.registry.sendError(c.session, "INTERNAL_ERROR", text, { details }, false, c.conn);
    return;
  }
  if (refusal !== undefined) refuse(frame, `Tool call ${frame.call_id} is not waiting for approval: ${refusal}`, c);
}

/**
 * A decision or result must answer a tool_call Gatehouse actually passed to this IDE, and a decision naming an
 * approval must name that call's own (INVALID_CALL_ID; nothing is decided, no ack).
 */
function refuseAnswer(frame: HitlDecision | ToolResult, c: IdeFrameContext): boolean {
  const refusal = c.toolCalls.refusal(c.session, frame);
  if (refusal === undefined) return false;
  refuse(frame, refusal, c);
  return true;
}

function refuse(frame: HitlDecision | ToolResult, text: string, c: IdeFrameContext): void {
  metrics.messagesProcessed.inc({ status: "invalid" });
  const details = {
    ...answerDetails(frame),
    ...(frame.message_id !== undefined ? { message_id: frame.message_id } : {}),
  };
  c.registry.sendError(c.session, "INVALID_CALL_ID", text, { details }, false, c.conn);
}

/** The call (and the approval, when the decision names one) an IDE answer is about. */
function answerDetails(frame: HitlDecision | ToolResult): Record<string, unknown> {
  return {
    call_id: frame.call_id,
    ...(frame.type === "hitl_decision" && frame.approval_id !== undefined ? { approval_id: frame.approval_id } : {}),
  };
}

/**
 * Writes the frame to the runtime and acknowledges it to the IDE once it was written, or tells the IDE the runtime
 * is away. A link still holding more than GATEHOUSE_WS_MAX_BUFFERED_BYTES the runtime has not taken (a runtime
 * that stopped reading) takes nothing more: the frame is refused (AGENT_UNAVAILABLE, reason RUNTIME_BACKLOG, no
 * ack), so what waits in memory for one runtime link stays bounded whatever the IDE sends.
 */
async function forward(
  frame: RuntimeOutFrame & { message_id: string },
  c: IdeFrameContext,
  beforeWrite?: (link: RuntimeLink) => void,
): Promise<void> {
  const link = await c.runtime.linkFor(c.session);
  if (link?.congested) {
    metrics.messagesProcessed.inc({ status: "rejected" });
    const text = "Agent runtime is not taking frames: this one was not delivered, resend it later";
    const details = { message_id: frame.message_id, reason: RUNTIME_BACKLOG_REASON };
    c.registry.sendError(c.session, "AGENT_UNAVAILABLE", text, { details }, false, c.conn);
    return;
  }
  const unavailable = () => {
    metrics.messagesProcessed.inc({ status: "error" });
    c.registry.sendError(c.session, "AGENT_UNAVAILABLE", "Agent runtime is unavailable", {
      details: { message_id: frame.message_id },
    });
  };
  const written = (err?: Error) => {
    // The link dropped before the frame left: it was never delivered (onLost tells the IDE of the link too).
    if (err) return unavailable();
    metrics.forwardLatency.observe({ direction: "gateway_to_runtime" }, (performance.now() - c.receivedAt) / 1000);
    metrics.messages.inc({ direction: "gateway_to_runtime", type: frame.type });
    metrics.messagesProcessed.inc({ status: "success" });
    c.registry.emit(c.session, { type: "ack", message_id: frame.message_id, ack_type: frame.type });
  };
  if (link) beforeWrite?.(link);
  if (!link?.send(frame, written)) unavailable();
}

/** The `details.reason` of the AGENT_UNAVAILABLE refusing a frame for a runtime link that holds too much. */
export const RUNTIME_BACKLOG_REASON = "RUNTIME_BACKLOG";
