// The handler maps and the schemas come from the same spec; this checks they agree, so every frame the
// validators accept on a route reaches a handler (and no handler waits for a type the spec does not have).
import { describe, expect, it } from "vitest";
import { parseFrame } from "./frames";
import { ideFrameHandlers } from "./ide-inbound";
import { runtimeFrameHandlers } from "./runtime-inbound";
import { loadMessageValidators } from "./schemas";

describe("frame handler maps", () => {
  it("handle exactly the message types the spec accepts from the IDE and from the runtime", async () => {
    const validators = await loadMessageValidators();
    expect(Object.keys(ideFrameHandlers).sort()).toEqual([...validators.types("ide_in")].sort());
    expect(Object.keys(runtimeFrameHandlers).sort()).toEqual([...validators.types("runtime_in")].sort());
  });
});

describe("parseFrame", () => {
  it("refuses a __proto__ key anywhere in a frame, either way, as the REST body reader does", async () => {
    // JSON.parse makes it an own key: it reached the policy, the approval, the audit log, the IDE and the runtime
    // as it was, where any merge into another object turns it into that object's prototype.
    const validators = await loadMessageValidators();
    const edit =
      '{"type":"hitl_decision","call_id":"c-1","decision":"edit","modified_arguments":{"path":"a.txt",' +
      '"\\u005f_proto__":{"path":"/etc/passwd"}}}';
    const call =
      '{"type":"tool_call","call_id":"c-1","tool_name":"read_file","arguments":{"__proto__":{"path":"/etc/passwd"}}}';
    for (const [route, text] of [
      ["ide_in", edit],
      ["runtime_in", call],
    ] as const) {
      const parsed = parseFrame(validators, route, text, false);
      expect(parsed.ok).toBe(false);
      expect(parsed.ok ? [] : parsed.errors.map((e) => e.message)).toEqual([expect.stringContaining("__proto__")]);
    }
    // The same text as a value, not as a key, is a frame like any other.
    expect(parseFrame(validators, "ide_in", '{"type":"user_message","content":"\\"__proto__\\": 1"}', false).ok).toBe(
      true,
    );
  });

  it("refuses a repeated member name on either route, as the REST body reader does", async () => {
    const validators = await loadMessageValidators();
    const call =
      '{"type":"tool_call","call_id":"c-1","tool_name":"read_file","arguments":{"path":"a.txt","p\\u0061th":"/etc/passwd"}}';
    const parsed = parseFrame(validators, "runtime_in", call, false);
    expect(parsed.ok ? [] : parsed.errors).toEqual([{ pointer: "/", message: 'repeats the member name "path"' }]);
    // The same name in two objects is no repetition.
    const twice = '{"type":"hitl_decision","call_id":"c-1","decision":"edit","modified_arguments":{"call_id":"x"}}';
    expect(parseFrame(validators, "ide_in", twice, false).ok).toBe(true);
  });
});
