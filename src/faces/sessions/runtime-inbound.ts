// Runtime → Gatehouse → IDE: every runtime frame is validated, then handled by the handler of its type.
// Gatehouse numbers frames itself (a runtime's seq is dropped); tool calls go through the policy first.
import { logger } from "../../core/log/logger";
import { confirmAgent } from "./agent-switch";
import { dispatchFrame, type FrameHandlers, parseFrame, type RuntimeInFrame } from "./frames";
import { sessionMetrics as metrics } from "./metrics";
import { asRuntimeError } from "./runtime-errors";
import type { RuntimeLink } from "./runtime-link";
import type { MessageValidators } from "./schemas";
import type { LiveSession, SessionRegistry } from "./session-state";
import type { ToolCalls } from "./tool-calls";

const log = logger.child({ module: "sessions" });

export interface RuntimeInboundDeps {
  registry: SessionRegistry;
  validators: Promise<MessageValidators>;
  toolCalls: ToolCalls;
}

/** What a runtime frame's handler works with. */
export interface RuntimeFrameContext extends RuntimeInboundDeps {
  session: LiveSession;
  link: RuntimeLink;
}

/** The runtime frames the IDE gets unchanged (an error is normalised, a tool_call is decided first). */
type RelayedFrame = Exclude<RuntimeInFrame, { type: "error" | "tool_call" }>;
const relay = (frame: RelayedFrame, c: RuntimeFrameContext) => c.registry.emit(c.session, frame);

/** Exhaustive by type: a runtime message added to the spec does not compile until it is handled here. */
export const runtimeFrameHandlers: FrameHandlers<RuntimeInFrame, [RuntimeFrameContext], void | Promise<void>> = {
  tool_call: (frame, c) => c.toolCalls.decide(c.session, c.link, frame),
  error: (frame, c) => {
    // Runtimes send `message` or `content`; the IDE always gets both, with the same text.
    const text = (frame.message ?? frame.content) as string;
    c.registry.emit(c.session, { ...asRuntimeError(frame), message: text, content: text });
  },
  agent_switched: async (frame, c) => {
    const answer = await confirmAgent(c.session, c.link, frame.agent, c.registry.store);
    if (answer === "confirmed") return relay(frame, c);
    if (answer === "not-shared") return dropUnsharedSwitch(c, frame.agent);
    // Not asked for by the IDE: the agent (and the manifest judging the calls) stays; refused as an invalid frame.
    const errors = [{ pointer: "/agent", message: "was not asked for by the IDE (switch_agent)" }];
    log.warn(
      { sessionId: c.session.record.id, agent: frame.agent },
      "refused an agent_switched the IDE did not ask for",
    );
    refuseFrame(c, c.session, c.link, { type: frame.type }, errors);
  },
  agent_status: relay,
  assistant_message: relay,
  context_update: relay,
};

export async function handleRuntimeFrame(
  deps: RuntimeInboundDeps,
  session: LiveSession,
  link: RuntimeLink,
  data: string,
  receivedAt: number,
) {
  const parsed = parseFrame(await deps.validators, "runtime_in", data, false);
  if (!parsed.ok) {
    log.warn({ sessionId: session.record.id, errors: parsed.errors }, "dropped an invalid runtime frame");
    refuseFrame(deps, session, link, namesOf(data), parsed.errors);
    return;
  }
  // Closed here (an agent switch that could not be shared, a session ended or taken over): what the runtime said
  // after that is not judged, nor passed on.
  if (link.closedByGateway) return;
  const frame = withoutSeq(parsed.frame);
  metrics.messages.inc({ direction: "runtime_to_gateway", type: frame.type });
  // Only a tool_call waits (for the policy); the other frames go out in this same turn of the event loop.
  const handling = dispatchFrame(runtimeFrameHandlers, frame, { ...deps, session, link });
  if (handling) await handling;
  metrics.forwardLatency.observe({ direction: "gateway_to_ide" }, (performance.now() - receivedAt) / 1000);
  metrics.messagesProcessed.inc({ status: "success" });
}

/**
 * The runtime switched to `agent` as asked, but the other nodes cannot learn it (./agent-switch.ts): the IDE is not
 * told of a switch a node taking the session over would not judge under. The link is closed (its turn, run by
 * `agent`, ends and its approvals are cancelled, as when the link is lost), the session keeps the agent of before
 * on every node, and the IDE hears why: its next frame opens a link again, and it may ask for `agent` again.
 */
function dropUnsharedSwitch(c: RuntimeFrameContext, agent: string): void {
  const { session, link, registry } = c;
  log.warn({ sessionId: session.record.id, agent }, "closed the runtime link: its agent switch could not be shared");
  if (session.link === link) session.link = undefined;
  link.close();
  registry.cancelApprovals(session, "the session's runtime link was closed: its agent switch could not be recorded");
  const text = `The switch to agent ${agent} could not be recorded for the other gateway nodes; the agent runtime connection was closed and the agent is unchanged. Send switch_agent again`;
  registry.sendError(session, "AGENT_UNAVAILABLE", text, { details: { reason: "AGENT_SWITCH_NOT_SHARED", agent } });
}

/**
 * A dropped runtime frame (invalid, or one the runtime may not send: an agent_switched the IDE did not ask for)
 * may be one its turn goes on from (a tool_call the runtime then says it waits on): the
 * IDE hears RUNTIME_FRAME_INVALID in the stream (the frame's type and call_id when they can be read), so it is not
 * left waiting for a call that never comes, and a dropped tool_call is answered to the runtime with a tool_result
 * error INVALID_FORMAT, so its turn does not wait either.
 */
function refuseFrame(
  deps: RuntimeInboundDeps,
  session: LiveSession,
  link: RuntimeLink,
  { type, callId }: { type?: string; callId?: string },
  errors: { pointer: string; message: string }[],
): void {
  metrics.invalidFrames.inc({ source: "runtime" });
  metrics.messagesProcessed.inc({ status: "dropped" });
  const details = {
    ...(type !== undefined ? { frame_type: type } : {}),
    ...(callId !== undefined ? { call_id: callId } : {}),
    errors: errors.slice(0, 8),
  };
  const text = "The agent runtime sent an invalid frame; it was dropped (its turn may not go on as announced)";
  deps.registry.sendError(session, "RUNTIME_FRAME_INVALID", text, { details });
  if (type === "tool_call" && callId !== undefined) {
    const message = `The tool_call was dropped by Gatehouse: ${errors[0]?.pointer ?? "/"} ${errors[0]?.message ?? "invalid"}`;
    link.send({ type: "tool_result", call_id: callId, error: { code: "INVALID_FORMAT", message } });
  }
}

/** The `type` and `call_id` of an invalid frame, when it is a JSON object naming them as short, well-formed strings. */
function namesOf(data: string): { type?: string; callId?: string } {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return {};
  }
  if (typeof value !== "object" || value === null) return {};
  const { type, call_id } = value as { type?: unknown; call_id?: unknown };
  const readable = (v: unknown): v is string => typeof v === "string" && v.length <= 128 && v.isWellFormed();
  return { ...(readable(type) ? { type } : {}), ...(readable(call_id) ? { callId: call_id } : {}) };
}

/** Gatehouse numbers the frames it sends; a runtime's own seq is not passed on. */
function withoutSeq<F extends { seq?: number }>(frame: F): F {
  const { seq: _ignored, ...rest } = frame;
  return rest as F;
}
