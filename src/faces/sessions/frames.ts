// The session frames as the spec's generated types, and the one way the gateway dispatches them: a handler
// map keyed by `type` that must name every variant. A message type added to spec/sessions.asyncapi.yaml (and
// so to generated/) without a handler here is a compile error, not a frame silently dropped at run time.
import type { RawData } from "ws";
import type {
  RuntimeAgentStatus,
  RuntimeAgentSwitched,
  RuntimeAssistantMessage,
  RuntimeCancel,
  RuntimeContextUpdate,
  RuntimeError,
  RuntimeHitlDecision,
  RuntimeSwitchAgent,
  RuntimeToolCall,
  RuntimeToolResult,
  RuntimeUserMessage,
} from "../../../generated/messages/types";
import type { ClientFrame, ServerFrame } from "../../../generated/ws-client";
import { paramsSizeProblem } from "../../core/governance";
import { holdsProtoKey } from "../../http/body/json-body";
import { duplicateMemberName, shownName } from "../../http/body/json-duplicates";
import { UNSAFE_INTEGER_MESSAGE, unsafeIntegerPointer } from "../../http/body/json-integers";
import { jsonShapeViolation } from "../../http/body/json-shape";
import type { FrameRoute, MessageValidators } from "./schemas";

export type { ClientFrame, ServerFrame };

// The generated client only covers the IDE's socket; the runtime's two directions are the unions of the
// generated Runtime* messages (the same split as generated/messages/index.json: receive = runtime → Gatehouse).
/** Frames the agent runtime sends to Gatehouse. */
export type RuntimeInFrame =
  | RuntimeAgentStatus
  | RuntimeAgentSwitched
  | RuntimeAssistantMessage
  | RuntimeContextUpdate
  | RuntimeError
  | RuntimeToolCall;
/** Frames Gatehouse sends to the agent runtime. */
export type RuntimeOutFrame =
  | RuntimeCancel
  | RuntimeHitlDecision
  | RuntimeSwitchAgent
  | RuntimeToolResult
  | RuntimeUserMessage;

/** The frame type each route carries (from Gatehouse's point of view, see ./schemas.ts). */
export interface RouteFrames {
  ide_in: ClientFrame;
  ide_out: ServerFrame;
  runtime_in: RuntimeInFrame;
  runtime_out: RuntimeOutFrame;
}

type AnyFrame = { type: string };

/** The variant of `F` whose `type` is `T`. */
export type FrameOfType<F extends AnyFrame, T extends F["type"]> = Extract<F, { type: T }>;

/** One handler per frame type, each receiving its own variant: a missing type does not compile. */
export type FrameHandlers<F extends AnyFrame, Args extends unknown[], R> = {
  [T in F["type"]]: (frame: FrameOfType<F, T>, ...args: Args) => R;
};

export function dispatchFrame<F extends AnyFrame, Args extends unknown[], R>(
  handlers: FrameHandlers<F, Args, R>,
  frame: F,
  ...args: Args
): R {
  // The map is exhaustive by its type; TS cannot correlate `frame.type` with its handler's parameter itself.
  const handler = handlers[frame.type as F["type"]] as unknown as (frame: F, ...args: Args) => R;
  return handler(frame, ...args);
}

export type ParsedFrame<F> =
  | { ok: true; frame: F }
  | { ok: false; errors: Array<{ pointer: string; message: string }> };

/** JSON text → a frame of the route, validated against the route's schemas (which the generated types mirror). */
export function parseFrame<R extends FrameRoute>(
  validators: MessageValidators,
  route: R,
  data: RawData | string,
  isBinary: boolean,
): ParsedFrame<RouteFrames[R]> {
  if (isBinary)
    return { ok: false, errors: [{ pointer: "/", message: "binary frames are not accepted; send JSON text" }] };
  const text = typeof data === "string" ? data : rawToString(data);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, errors: [{ pointer: "/", message: "not valid JSON" }] };
  }
  // The REST body reader's rule too: JSON.parse makes a `__proto__` key an own property, which the arguments carry
  // on to the policy, the audit log, the IDE and the runtime, where a merge makes it an object's prototype.
  if (holdsProtoKey(text, value)) {
    return {
      ok: false,
      errors: [
        { pointer: "/", message: "a __proto__ key or a constructor.prototype is not accepted anywhere in a frame" },
      ],
    };
  }
  // And its rule on repeated names: JSON.parse keeps the last of `{"decision":"reject","d\u0065cision":"approve"}`,
  // while the IDE's own log, a proxy or an auditor reading the frame may keep the first: one decision, two meanings.
  const repeated = duplicateMemberName(text);
  if (repeated !== undefined) {
    return { ok: false, errors: [{ pointer: "/", message: `repeats the member name ${shownName(repeated)}` }] };
  }
  // And a REST body's rule on integers a double does not hold: `"seq":12345678901234567890` would be read rounded.
  const unsafe = unsafeIntegerPointer(text);
  if (unsafe !== undefined) return { ok: false, errors: [{ pointer: unsafe, message: UNSAFE_INTEGER_MESSAGE }] };
  // The bounds of every REST body: a frame nested deeper than 32 levels would overflow the recursive code it
  // reaches once accepted (serialized for the runtime, hashed and audited as a tool outcome), and 1e309 would be
  // relayed as null. Checked before the schema, iteratively.
  const violation = jsonShapeViolation(value);
  if (violation) return { ok: false, errors: [violation] };
  const result = validators.validate(route, value);
  if (!result.ok) return result;
  const tooLarge = editTooLarge(result.frame);
  if (tooLarge) return { ok: false, errors: [{ pointer: "/modified_arguments", message: tooLarge }] };
  // Valid against the schema of its `type` on this route: it is that route's generated frame type.
  return { ok: true, frame: result.frame as unknown as RouteFrames[R] };
}

/**
 * An edit's arguments holding more than the governance engine judges (core/governance/params-size.ts): refused as the
 * frame, before the edit closes the call's approval, so the IDE may send a smaller edit or decide otherwise.
 */
function editTooLarge(frame: object): string | undefined {
  const edit = frame as { type?: unknown; modified_arguments?: unknown };
  if (edit.type !== "hitl_decision" || edit.modified_arguments === undefined) return undefined;
  return paramsSizeProblem([edit.modified_arguments]);
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  return Buffer.from(data).toString("utf8");
}
