import { existsSync } from "node:fs";
import { Parser } from "@asyncapi/parser";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadMessageValidators, type FrameRoute } from "./schemas";
import { must } from "../../core/must";

const SPEC = "spec/sessions.asyncapi.yaml";
const ROUTE_OF: Record<string, FrameRoute> = {
  "session:receive": "ide_in",
  "session:send": "ide_out",
  "runtimeSession:send": "runtime_out",
  "runtimeSession:receive": "runtime_in",
};

describe("session message schemas", { timeout: 30_000 }, () => {
  it("the AsyncAPI document parses without errors", async () => {
    const { document, diagnostics } = await new Parser().parse(readFileSync(SPEC, "utf8"));
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
    expect(document).toBeDefined();
  });

  it("every documented example (the seed's included) validates on its route, from the spec and from generated/", async () => {
    const { document } = await new Parser().parse(readFileSync(SPEC, "utf8"));
    const sources = [await loadMessageValidators({ generatedDir: "/nonexistent", specFile: SPEC })];
    if (existsSync("generated/messages/index.json"))
      sources.push(await loadMessageValidators({ generatedDir: "generated/messages" }));
    const names: string[] = [];
    for (const op of document!.operations().all()) {
      const key = `${op.channels().all()[0]?.id()}:${op.action()}`;
      const route = must(ROUTE_OF[key], `a route for ${key}`);
      for (const message of op.messages().all()) {
        for (const example of message.examples().all()) {
          names.push(example.name()!);
          for (const v of sources)
            expect(v.validate(route, example.payload()), example.name()).toMatchObject({ ok: true });
        }
      }
    }
    for (const seed of [
      "seed002_user_message",
      "seed002_tool_result",
      "seed002_hitl_decision",
      "seed002_assistant_message",
      "seed002_tool_call",
      "seed002_error_session_expired",
      "seed002_token_expired",
      "seed002_error_session_expired_details",
      "seed002_rate_limit_exceeded",
      "seed002_token_expired_flow",
    ])
      expect(names).toContain(seed);
  });

  it("rejects what the protocol forbids", async () => {
    const v = await loadMessageValidators({ generatedDir: "/nonexistent", specFile: SPEC });
    const bad: Array<[FrameRoute, unknown, string]> = [
      ["ide_in", { type: "hitl_decision", call_id: "c", decision: "edit" }, "/modified_arguments"],
      ["ide_in", { type: "hitl_decision", call_id: "c", decision: "maybe" }, "/decision"],
      ["ide_in", { type: "tool_result", call_id: "c", result: {}, error: "x" }, "/"],
      ["ide_in", { type: "user_message", content: "x", admin: true }, "/"],
      ["ide_in", { type: "assistant_message", token: "x", is_final: true }, "/type"],
      ["ide_out", { type: "error", error_code: "X" }, "/message"],
    ];
    for (const [route, frame, pointer] of bad) {
      const r = v.validate(route, frame);
      expect(r.ok, JSON.stringify(frame)).toBe(false);
      if (!r.ok) expect(r.errors.map((e) => e.pointer)).toContain(pointer);
    }
  });

  it("a hitl_decision without a decision is reported as such, not as a missing modified_arguments", async () => {
    // The `if decision == edit` branch must not fire when `decision` is absent (JSON Schema `if` passes then).
    for (const v of [
      await loadMessageValidators({ generatedDir: "/nonexistent", specFile: SPEC }),
      ...(existsSync("generated/messages/index.json")
        ? [await loadMessageValidators({ generatedDir: "generated/messages" })]
        : []),
    ]) {
      const r = v.validate("ide_in", { type: "hitl_decision", call_id: "c" });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.errors.map((e) => e.pointer)).toContain("/decision");
        expect(r.errors.map((e) => e.pointer)).not.toContain("/modified_arguments");
      }
    }
  });
});
