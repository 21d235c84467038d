// Issue 10 §2: once a connector ran, the caller always learns it. `execute` answers with the connector's result
// even when recording the outcome fails or the result cannot be represented as JSON; `batch` reports every
// action that ran even when a later action throws.
import { describe, expect, it } from "vitest";
import { createBatch } from "../../src/core/governance/batch";
import { createExecute, type ExecuteOnce } from "../../src/core/governance/execute";
import type { Authorize } from "../../src/core/governance/authorize";
import type { AuthorizedCall, BatchRequest, ExecuteResponse } from "../../src/core/governance/types";

const answer = (id: string): ExecuteResponse =>
  ({
    interaction_id: id,
    decision: "ALLOW",
    reasons: [],
    executed: true,
    result: { success: true },
    timestamp: new Date().toISOString(),
  }) as ExecuteResponse;

const batchOf = (n: number): BatchRequest =>
  ({
    uapk_id: "bot",
    agent_id: "bot",
    actions: Array.from({ length: n }, (_, i) => ({ action_id: `a${i}`, type: "email", tool: "send", params: {} })),
  }) as BatchRequest;

describe("batch after a side effect", () => {
  it("reports the actions that ran, the one that threw and skips the rest (no 5xx)", async () => {
    let calls = 0;
    const execute: ExecuteOnce = async () => {
      calls += 1;
      if (calls === 2) throw new Error("database is locked");
      return answer(`i${calls}`);
    };
    const response = await createBatch(execute)("org", batchOf(3));
    expect(response.results.map((r) => [r.action_id, r.decision, r.executed])).toEqual([
      ["a0", "ALLOW", true],
      ["a1", "SKIPPED", false],
      ["a2", "SKIPPED", false],
    ]);
    expect(response.results[1]?.result?.error).toMatch(/database is locked/);
    expect(response.summary).toMatchObject({ total: 3, allowed: 1, skipped: 2 });
  });

  it("still fails as a whole when nothing ran yet (the error is the answer)", async () => {
    const execute: ExecuteOnce = async () => {
      throw new Error("store unavailable");
    };
    await expect(createBatch(execute)("org", batchOf(2))).rejects.toThrow(/store unavailable/);
  });
});

describe("execute after a side effect", () => {
  const call = {
    org_id: "org",
    interaction_id: "i1",
    uapk_id: "bot",
    at: new Date(),
    slots: [],
  } as unknown as AuthorizedCall;
  const authorize: Authorize = async (_org, _request, options) => {
    options?.gate?.({ connector: { type: "echo" } } as never);
    return { interaction_id: "i1", decision: "ALLOW", reasons: [], timestamp: new Date().toISOString(), call } as never;
  };
  const request = { uapk_id: "bot", agent_id: "bot", action: { type: "email", tool: "send", params: {} } } as never;

  it("answers the connector's result when the outcome cannot be recorded", async () => {
    let ran = false;
    const execute = createExecute({
      authorize,
      runTool: () => async () => {
        ran = true;
        return { success: true, data: { sent: 1 } };
      },
      recordOutcome: async () => {
        throw new Error("disk full");
      },
      budgets: { current: () => 0 },
    });
    const response = await execute("org", request);
    expect(ran).toBe(true);
    expect(response.executed).toBe(true);
    expect(response.result).toEqual({ success: true, data: { sent: 1 } });
  });

  it("keeps a result JSON cannot represent out of the audit hash instead of failing", async () => {
    const recorded: unknown[] = [];
    const execute = createExecute({
      authorize,
      runTool: () => async () => ({ success: true, data: { big: 10n, nan: Number.NaN } as never }),
      recordOutcome: async (_call, result) => {
        recorded.push(result);
      },
      budgets: { current: () => 0 },
    });
    const response = await execute("org", request);
    expect(response.executed).toBe(true);
    expect(response.result?.data).toHaveProperty("unrepresentable_result");
    expect(JSON.stringify(recorded[0])).toContain("unrepresentable_result");
  });
});
