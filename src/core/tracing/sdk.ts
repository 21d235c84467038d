// Starts OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans go to that collector over OTLP/HTTP
// (JSON). The SDK is imported only then, so a gateway without tracing loads none of it. The standard OTEL_*
// variables (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_SCHEDULE_DELAY…) apply.
// Spans come from Gatehouse's own seams (requests, policy decisions, connectors, puruto commands, WebSocket
// sessions), not from auto-instrumentation: no require hooks, and the bundle in dist/ stays plain ESM.
import { trace } from "@opentelemetry/api";
import { setTracingActive } from "./tracer";

export interface Tracing {
  /** Exports every ended span now (tests; the batch processor otherwise exports every few seconds). */
  flush(): Promise<void>;
  /** Exports the spans still buffered, then stops (call after the server closed). */
  shutdown(): Promise<void>;
}

const NOT_TRACING: Tracing = { flush: async () => {}, shutdown: async () => {} };

export async function startTracing(env: Record<string, string | undefined> = process.env): Promise<Tracing> {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return NOT_TRACING;
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
  ]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || "gatehouse",
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces) and OTEL_EXPORTER_OTLP_HEADERS itself.
    traceExporter: new OTLPTraceExporter(),
    // Traces only: metrics stay on /metrics (Prometheus), logs on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  setTracingActive(true);
  return {
    async flush() {
      // The global provider is a proxy; its delegate is the SDK's provider.
      const provider = trace.getTracerProvider() as { getDelegate?(): { forceFlush?(): Promise<void> } };
      await provider.getDelegate?.().forceFlush?.();
    },
    async shutdown() {
      setTracingActive(false);
      await sdk.shutdown();
    },
  };
}
