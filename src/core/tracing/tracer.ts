// The tracing seam of every module: spans through @opentelemetry/api, which is a no-op until the SDK is
// started (./sdk.ts, only when OTEL_EXPORTER_OTLP_ENDPOINT is set). `tracingActive()` lets hot paths skip
// even building span attributes when nobody collects them: no tracing cost when the variable is unset.
import { context, type Attributes, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";

export { SpanKind };
export type { Attributes, Span };

let active = false;

/** True once the SDK is started (startTracing); every wrapper checks it before doing any work. */
export function tracingActive(): boolean {
  return active;
}

/** Set by ./sdk.ts only. */
export function setTracingActive(on: boolean): void {
  active = on;
}

export const tracer = () => trace.getTracer("gatehouse");

/** Trace and span id of the active span, for log lines and audit records; undefined outside a span. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** `{trace_id}` of the active span when tracing, `{}` otherwise: spread into an audit record's meta. */
export function traceMeta(): { trace_id?: string } {
  if (!active) return {};
  const ids = activeTraceIds();
  return ids ? { trace_id: ids.trace_id } : {};
}

/**
 * Runs `work` inside a new span (child of the active one) and ends it when `work` settles; a throw marks the
 * span as an error and is rethrown. `describe` adds attributes from the result (the decision, a status).
 */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; describe?: (result: T) => Attributes },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(name, {
    kind: options.kind ?? SpanKind.INTERNAL,
    ...(options.attributes ? { attributes: options.attributes } : {}),
  });
  try {
    const result = await context.with(trace.setSpan(context.active(), span), () => work(span));
    if (options.describe) span.setAttributes(options.describe(result));
    return result;
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: String((err as Error)?.message ?? err) });
    throw err;
  } finally {
    span.end();
  }
}
