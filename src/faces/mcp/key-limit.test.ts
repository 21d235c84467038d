// The key limit over an MCP POST: every JSON-RPC request counts, in one consume of the shared counters.
import { describe, expect, it } from "vitest";
import type { Principal } from "../../core/identity/principal";
import { keyLimitAnswer } from "./key-limit";
import type { McpRequestLimits } from "./ports";

const key = { kind: "api_key", keyId: "k1", orgId: "default" } as unknown as Principal;

function countingLimits(allowed: number) {
  const calls: number[] = [];
  let used = 0;
  const limits: McpRequestLimits = {
    async consume(_principal, _agent, requests = 1) {
      calls.push(requests);
      used += requests;
      return used > allowed ? { code: "RATE_LIMIT_EXCEEDED", message: "over", retryAfterSeconds: 7 } : undefined;
    },
  };
  return { limits, calls };
}

const ping = (id: number) => ({ jsonrpc: "2.0", id, method: "ping" });

describe("keyLimitAnswer", () => {
  it("counts a batch's requests in one consume (not one round trip each), tools/call left to its handler", async () => {
    const { limits, calls } = countingLimits(100);
    const batch = [...Array.from({ length: 50 }, (_, i) => ping(i)), { jsonrpc: "2.0", id: 99, method: "tools/call" }];
    expect(await keyLimitAnswer(limits, key, "POST", batch)).toBeUndefined();
    expect(calls).toEqual([50]);
  });

  it("over the limit, answers each request of the batch with the JSON-RPC error", async () => {
    const { limits } = countingLimits(2);
    const answer = (await keyLimitAnswer(limits, key, "POST", [ping(1), ping(2), ping(3)])) as { id: number }[];
    expect(answer.map((a) => a.id)).toEqual([1, 2, 3]);
    expect(answer[0]).toMatchObject({ error: { data: { code: "RATE_LIMIT_EXCEEDED", retry_after_seconds: 7 } } });
  });
});
