// Runtime → Gatehouse → IDE: every runtime frame is validated, then handled by the handler of its type.
// Gatehouse numbers frames itself (a runtime's seq is dropped); tool calls go through the policy first.
import { logger } from "../../core/log/logger";
import { dispatchFrame, parseFrame, type FrameHandlers, type RuntimeInFrame } from "./frames";
import { sessionMetrics as metrics } from "./metrics";
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
    c.registry.emit(c.session, { ...frame, message: text, content: text });
  },
  agent_switched: (frame, c) => {
    c.session.agent = frame.agent;
    relay(frame, c);
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
    metrics.invalidFrames.inc({ source: "runtime" });
    metrics.messagesProcessed.inc({ status: "dropped" });
    log.warn({ sessionId: session.record.id, errors: parsed.errors }, "dropped an invalid runtime frame");
    return;
  }
  const frame = withoutSeq(parsed.frame);
  metrics.messages.inc({ direction: "runtime_to_gateway", type: frame.type });
  // Only a tool_call waits (for the policy); the other frames go out in this same turn of the event loop.
  const handling = dispatchFrame(runtimeFrameHandlers, frame, { ...deps, session, link });
  if (handling) await handling;
  metrics.forwardLatency.observe({ direction: "gateway_to_ide" }, (performance.now() - receivedAt) / 1000);
  metrics.messagesProcessed.inc({ status: "success" });
}

/** Gatehouse numbers the frames it sends; a runtime's own seq is not passed on. */
function withoutSeq<F extends { seq?: number }>(frame: F): F {
  const { seq: _ignored, ...rest } = frame;
  return rest as F;
}
