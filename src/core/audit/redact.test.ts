import { describe, expect, it } from "vitest";
import { REDACTED, redactPaths } from "./redact";

describe("redactPaths", () => {
  it("redacts a key in any spelling the policy reads (case, NFKC, separators): an agent cannot choose one that is kept", () => {
    const params = {
      to: "a@example.com",
      Body: "card 4111-1111",
      nested: { BODY: "x", ｂｏｄｙ: "y", api_Key: "k1", "API-KEY": "k2" },
    };
    const redacted = redactPaths("params", params, ["params.body", "params.nested.body", "params.nested.api_key"]);
    expect(redacted).toEqual({
      to: "a@example.com",
      Body: REDACTED,
      nested: { BODY: REDACTED, ｂｏｄｙ: REDACTED, api_Key: REDACTED, "API-KEY": REDACTED },
    });
    expect(JSON.stringify(redacted)).not.toMatch(/4111|k1|k2/);
    expect(params.Body).toBe("card 4111-1111"); // the caller's value is untouched
  });

  it("keeps every other key, `*` and absent paths as before", () => {
    const params = { bodyguard: "kept", subject: "s", items: [{ Content: "c1" }, { content: "c2" }] };
    expect(redactPaths("params", params, ["params.body", "params.items.*.content", "params.missing.deep"])).toEqual({
      bodyguard: "kept",
      subject: "s",
      items: [{ Content: REDACTED }, { content: REDACTED }],
    });
    expect(redactPaths("result", { data: { Token: "t" } }, ["result.data.token"])).toEqual({
      data: { Token: REDACTED },
    });
    expect(redactPaths("params", params, ["result.data"])).toEqual(params);
  });
});
