// One pino logger for the whole process. Level from LOG_LEVEL (the session seed's variable, any case).
// Format: pretty (pino-pretty) when stdout is a terminal, one JSON object per line otherwise — what log
// collectors read; LOG_FORMAT=json|pretty overrides. With tracing on (OTEL_EXPORTER_OTLP_ENDPOINT), every line
// written inside a span carries its trace_id and span_id.
import { createRequire } from "node:module";
import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { activeTraceIds } from "../tracing/tracer";

export type { Logger };

export type LogFormat = "json" | "pretty";
export const LOG_FORMATS: readonly LogFormat[] = ["json", "pretty"];

/** Pretty for a person at a terminal, JSON for pipes, files and collectors; a valid LOG_FORMAT wins. */
export function logFormat(isTTY: boolean | undefined, override: string | undefined): LogFormat {
  const wanted = override?.toLowerCase();
  if (wanted === "json" || wanted === "pretty") return wanted;
  return isTTY === true ? "pretty" : "json";
}

export interface LoggerSettings {
  env?: Record<string, string | undefined>;
  isTTY?: boolean | undefined;
  /** Where JSON lines go (tests); stdout by default. */
  destination?: DestinationStream;
}

/** pino-pretty is loaded only for a terminal: a JSON-logging server never loads it. */
function prettyStream(): DestinationStream {
  const pretty = createRequire(import.meta.url)("pino-pretty") as typeof import("pino-pretty");
  return pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,service", sync: true });
}

export function createLogger({ env = process.env, isTTY, destination }: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: (env.LOG_LEVEL ?? (env.NODE_ENV === "test" ? "silent" : "info")).toLowerCase(),
    base: { service: "gatehouse" },
    // Never log credentials, whatever module forgets to strip them.
    redact: {
      paths: ["req.headers.authorization", 'req.headers["x-api-key"]', "*.api_key", "*.token", "*.secret"],
      censor: "[redacted]",
    },
    // Only with tracing configured: without it, no per-line lookup at all.
    ...(env.OTEL_EXPORTER_OTLP_ENDPOINT ? { mixin: () => activeTraceIds() ?? {} } : {}),
  };
  if (destination) return pino(options, destination);
  return logFormat(isTTY, env.LOG_FORMAT) === "pretty" ? pino(options, prettyStream()) : pino(options);
}

export const logger: Logger = createLogger({ isTTY: process.stdout.isTTY });
