export { startTracing, type Tracing } from "./sdk";
export {
  activeTraceIds,
  inSpan,
  SpanKind,
  traceMeta,
  tracer,
  tracingActive,
  type Attributes,
  type Span,
} from "./tracer";
export { traceDecide, traceToolRun } from "./governance";
