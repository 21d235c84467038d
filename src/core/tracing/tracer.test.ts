// Without OTEL_EXPORTER_OTLP_ENDPOINT nothing traces: the wrappers hand back the function they were given
// (no span, no attribute built), audit meta gets no trace id and log lines no mixin.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../log/logger";
import { traceDecide, traceToolRun } from "./governance";
import { startTracing } from "./sdk";
import { traceMeta, tracingActive } from "./tracer";

describe("tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset)", () => {
  it("starts nothing and leaves every seam untouched", async () => {
    const tracing = await startTracing({});
    expect(tracingActive()).toBe(false);
    const run = async () => ({ success: true });
    expect(traceToolRun("echo", "crm:read", run)).toBe(run);
    let calls = 0;
    const decide = traceDecide(async () => {
      calls++;
      return { decision: "ALLOW" } as never;
    });
    await decide("org", { uapk_id: "u", agent_id: "a", action: { type: "t", tool: "x", params: {} } }, new Date());
    expect(calls).toBe(1);
    expect(traceMeta()).toEqual({});
    await tracing.shutdown();
  });

  it("log lines carry no trace fields", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    createLogger({ env: { LOG_LEVEL: "info" }, destination }).info("hello");
    const line = JSON.parse(lines[0] ?? "{}");
    expect(line).toMatchObject({ msg: "hello", service: "gatehouse" });
    expect(line).not.toHaveProperty("trace_id");
  });
});
