// Issue 10 §2, hostile bodies at the boundary: too deep, non-finite numbers. Each is refused with a 400
// problem+json before any handler runs (no interaction is recorded), and the server keeps answering.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonShapeViolation, MAX_JSON_DEPTH } from "../../src/http/body/json-shape";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";

let g: TestGatehouse;
beforeAll(async () => {
  g = await startTestGatehouse();
});
afterAll(() => g.dispose());

async function post(path: string, raw: string) {
  const res = await fetch(g.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": g.apiKey },
    body: raw,
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    body: JSON.parse(text) as Record<string, unknown>,
  };
}

const execute = (params: string) =>
  `{"uapk_id":"support-bot","agent_id":"agent-001","action":{"type":"email","tool":"send_email","params":${params}}}`;

function nested(depth: number): string {
  return "[".repeat(depth) + "]".repeat(depth);
}

async function interactionCount(): Promise<number> {
  const res = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/interactions?limit=100`, {
    headers: { authorization: `Bearer ${g.operatorToken}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: unknown[] }).items.length;
}

describe("JSON bounds at the boundary", () => {
  it("finds depth and non-finite violations without recursion", () => {
    expect(jsonShapeViolation(JSON.parse(nested(MAX_JSON_DEPTH)))).toBeNull();
    expect(jsonShapeViolation(JSON.parse(nested(MAX_JSON_DEPTH + 1)))?.message).toMatch(/deeper than 32/);
    expect(jsonShapeViolation(JSON.parse(nested(200_000)))?.message).toMatch(/deeper/);
    // biome-ignore lint/correctness/noPrecisionLoss: -1e309 is -Infinity on purpose, the value the boundary refuses
    expect(jsonShapeViolation({ a: [1, { b: -1e309 }] })).toEqual({
      pointer: "/a/1/b",
      message: expect.stringMatching(/finite/),
    });
  });

  it.each([
    ["a huge number (1e309)", execute('{"amount":1e309}'), /\/body\/action\/params\/amount: number is out of range/],
    ["a huge negative number", execute('{"x":[-1e400]}'), /out of range/],
    // JSON.parse would read it as 12345678901234567000: the connector and the audit would get another id.
    [
      "an integer beyond 2^53−1",
      execute('{"n":12345678901234567890}'),
      /\/body\/action\/params\/n: integer is beyond ±\(2\^53−1\)/,
    ],
    ["a negative integer just beyond −(2^53−1)", execute('{"a":[-9007199254740992]}'), /params\/a\/0: integer/],
    ["params nested 40 deep", execute(nested(40)), /deeper than 32/],
    ["params nested 100000 deep", execute(nested(100_000)), /deeper than 32/],
  ])("refuses %s with 400 problem+json before anything runs", async (_name, raw, detail) => {
    const before = await interactionCount();
    const res = await post("/api/v1/gateway/execute", raw);
    expect(res.status).toBe(400);
    expect(res.type).toContain("application/problem+json");
    expect(res.body.code).toBe("VALIDATION_FAILED");
    expect(String(res.body.detail)).toMatch(detail);
    expect(await interactionCount()).toBe(before);
  });

  it("refuses such an integer in an MCP request too (the same body reader), before the MCP server reads it", async () => {
    const res = await fetch(`${g.url}/mcp/purutos`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "x-api-key": g.apiKey,
      },
      body: '{"jsonrpc":"2.0","id":12345678901234567890,"method":"initialize","params":{}}',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "VALIDATION_FAILED", errors: [{ pointer: "/body/id" }] });
  });

  it("takes integers up to 2^53−1, decimals, exponents and long digits in strings", async () => {
    const params =
      '{"n":9007199254740991,"m":-9007199254740991,"x":0.1,"y":6.02e23,"z":1.5e300,"id":"12345678901234567890"}';
    const res = await post("/api/v1/gateway/evaluate", execute(params));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it("keeps answering afterwards", async () => {
    const res = await fetch(`${g.url}/health`);
    expect(res.status).toBe(200);
  });
});
