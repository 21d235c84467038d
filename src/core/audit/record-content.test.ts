// meta.truncated is part of the signed record: it must name exactly the values stored as summaries, so an
// operator (or an evidence bundle's reader) never takes a connector's result as recorded for a summary, or back.
import { describe, expect, it } from "vitest";
import { MAX_STORED_VALUE_BYTES } from "./bound";
import { canonicalJson } from "./canonical";
import { storedResult } from "./record-content";
import { REDACTED, redactPaths } from "./redact";

describe("storedResult", () => {
  it("stores a small result as it is and names nothing as truncated", () => {
    const result = { success: true, data: { message_id: "msg-1", to: "ann@example.com" } };
    const stored = storedResult(result, { request_id: "req-1" });
    expect(stored.result).toEqual(result);
    expect(stored.meta).toEqual({ request_id: "req-1" });
  });

  it("names only the member it summarised", () => {
    const huge = "x".repeat(MAX_STORED_VALUE_BYTES + 1);
    const stored = storedResult({ success: true, data: { message_id: "msg-1", body: huge } }, {});
    expect(stored.meta).toEqual({ truncated: ["result.data.body"] });
    const data = (stored.result as { data: Record<string, unknown> }).data;
    expect(data.message_id).toBe("msg-1");
    expect(data.body).toMatchObject({ truncated: true, bytes: MAX_STORED_VALUE_BYTES + 3 });
  });

  it("names a summarised member beside data (an oversized error)", () => {
    const stored = storedResult({ success: false, error: "e".repeat(MAX_STORED_VALUE_BYTES + 1) }, {});
    expect(stored.meta).toEqual({ truncated: ["result.error"] });
  });

  it("keeps a connector's `__proto__` member as a member, in data and beside it, and redacts it when named", () => {
    const result = JSON.parse('{"success":true,"__proto__":{"x":1},"data":{"__proto__":{"body":"secret"},"ok":1}}');
    const stored = storedResult(result, {}).result as Record<string, unknown>;
    expect(Object.keys(stored)).toContain("__proto__");
    expect(canonicalJson(stored)).toBe(canonicalJson(result));
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
    const data = stored.data as Record<string, unknown>;
    expect(Object.keys(data)).toEqual(["__proto__", "ok"]);
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);

    const redacted = redactPaths("result", result, ["result.data.*"]) as { data: Record<string, unknown> };
    expect(Object.getOwnPropertyDescriptor(redacted.data, "__proto__")?.value).toBe(REDACTED);
    expect(JSON.stringify(redacted)).not.toContain("secret");
  });
});
