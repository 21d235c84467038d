// Session gateway metrics. No session, user or message ids as labels: label sets stay bounded.
import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../../core/metrics/registry";

export type Direction = "ide_to_gateway" | "gateway_to_ide" | "gateway_to_runtime" | "runtime_to_gateway";

export const sessionMetrics = {
  activeConnections: new Gauge({
    name: "gatehouse_ws_active_connections",
    help: "Open IDE WebSocket connections",
    registers: [registry],
  }),
  sessions: new Gauge({
    name: "gatehouse_ws_active_sessions",
    help: "Sessions held in memory (with or without a socket)",
    registers: [registry],
  }),
  upgrades: new Counter({
    name: "gatehouse_ws_upgrades_total",
    help: "WebSocket upgrade attempts by result (accepted or the HTTP status refused with)",
    labelNames: ["result"] as const,
    registers: [registry],
  }),
  messages: new Counter({
    name: "gatehouse_ws_messages_total",
    help: "WebSocket frames by direction and message type",
    labelNames: ["direction", "type"] as const,
    registers: [registry],
  }),
  closes: new Counter({
    name: "gatehouse_ws_closes_total",
    help: "IDE socket closes by close code",
    labelNames: ["code"] as const,
    registers: [registry],
  }),
  authFailures: new Counter({
    name: "gatehouse_ws_auth_failures_total",
    help: "Refused WebSocket upgrades by authentication failure reason",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  invalidFrames: new Counter({
    name: "gatehouse_ws_invalid_frames_total",
    help: "Frames that failed schema validation (IDE frames answered INVALID_MESSAGE, runtime frames dropped)",
    labelNames: ["source"] as const,
    registers: [registry],
  }),
  toolDecisions: new Counter({
    name: "gatehouse_ws_tool_decisions_total",
    help: "tool_call policy decisions",
    labelNames: ["decision"] as const,
    registers: [registry],
  }),
  forwardLatency: new Histogram({
    name: "gatehouse_ws_forward_latency_seconds",
    help: "Time from a frame arriving to it being written to the other side",
    labelNames: ["direction"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  }),
  /** The seed's own metric name (seed 002, GET /metrics). */
  messagesProcessed: new Counter({
    name: "messages_processed_total",
    help: "Total messages processed",
    labelNames: ["status"] as const,
    registers: [registry],
  }),
};
