// Type-level test, checked by `tsc` (make typecheck), never run: each `@ts-expect-error` below must be an
// error, or tsc fails with "unused @ts-expect-error". It proves the frame handler maps are exhaustive.
import type { ClientFrame, FrameHandlers, RuntimeInFrame } from "./frames";
import type { IdeFrameContext, ideFrameHandlers } from "./ide-inbound";
import type { RuntimeFrameContext, runtimeFrameHandlers } from "./runtime-inbound";

type IdeHandlers = FrameHandlers<ClientFrame, [IdeFrameContext], void | Promise<void>>;
type RuntimeHandlers = FrameHandlers<RuntimeInFrame, [RuntimeFrameContext], void | Promise<void>>;
declare const ide: typeof ideFrameHandlers;
declare const runtime: typeof runtimeFrameHandlers;

// The real maps are complete.
export const complete: [IdeHandlers, RuntimeHandlers] = [ide, runtime];

// Removing any handler fails compilation.
const { resume: _resume, ...ideWithoutResume } = ide;
// @ts-expect-error resume is not handled
export const missingIdeHandler: IdeHandlers = ideWithoutResume;

const { tool_call: _toolCall, ...runtimeWithoutToolCall } = runtime;
// @ts-expect-error tool_call is not handled
export const missingRuntimeHandler: RuntimeHandlers = runtimeWithoutToolCall;

// A ClientFrame variant added to the spec (so to generated/) without a handler fails compilation.
type ClientFrameWithNewVariant = ClientFrame | { type: "set_model"; model: string };
// @ts-expect-error set_model is not handled
export const newVariant: FrameHandlers<ClientFrameWithNewVariant, [IdeFrameContext], void | Promise<void>> = ide;

// A handler gets its own variant: reading a field of another variant fails compilation.
export const typedHandlers: Pick<IdeHandlers, "resume"> = {
  // @ts-expect-error a resume frame has no call_id
  resume: (frame) => void frame.call_id,
};
