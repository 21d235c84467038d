// Params too large to judge and audit are refused before any work is done on them (outside review R21c: 60,000 small
// members kept the event loop busy for seconds per execute). The bound counts values at any depth, a batch's actions
// together, and a refused request leaves nothing in the audit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { MAX_PARAMS_VALUES } from "../../../core/governance";
import { countParamsValues } from "../../../core/governance/params-size";
import { agent, executeBody, exportedRecords, registerManifest } from "../../../test-support/http";

const UAPK = "many-values-bot";
let g: TestGatehouse;

beforeAll(async () => {
  g = await startTestGatehouse();
  await registerManifest(g, {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Many Values Bot" },
    capabilities: ["crm:read"],
    constraints: {},
    tools: { "crm:read": { connector: { type: "echo" } } },
  });
}, 60_000);
afterAll(async () => g?.close());

/** Params holding exactly `n` values: `n - 1` members, one of them a one-element list. */
function paramsOf(n: number): Record<string, unknown> {
  const params: Record<string, unknown> = { list: ["x"] };
  for (let i = 0; i < n - 2; i++) params[`k${i}`] = i;
  return params;
}

const read = (params: Record<string, unknown>) => ({ type: "crm", tool: "read", params });

describe("params hold at most MAX_PARAMS_VALUES values", () => {
  it("counts members and elements at any depth", () => {
    expect(countParamsValues(paramsOf(10))).toBe(10);
    expect(countParamsValues({ a: [[1, 2], { b: { c: null } }] })).toBe(7);
  });

  it("execute and evaluate take exactly the bound and refuse one more, auditing nothing", async () => {
    const before = (await exportedRecords(g)).records.length;
    for (const path of ["/api/v1/gateway/execute", "/api/v1/gateway/evaluate"]) {
      const over = await agent(g).post(path, executeBody(UAPK, read(paramsOf(MAX_PARAMS_VALUES + 1))));
      expect(over.status).toBe(400);
      expect(over.body).toMatchObject({
        code: "VALIDATION_FAILED",
        errors: [{ pointer: "/body/action/params", message: expect.stringContaining("more than 10,000 values") }],
      });
    }
    expect((await exportedRecords(g)).records.length).toBe(before);

    const at = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, read(paramsOf(MAX_PARAMS_VALUES))));
    expect(at.status).toBe(200);
    expect(at.body.decision).toBe("ALLOW");
  });

  it("a batch's actions count together", async () => {
    const half = paramsOf(MAX_PARAMS_VALUES / 2 + 1);
    const actions = [1, 2].map((i) => ({ action_id: `a${i}`, ...read(half) }));
    const reply = await agent(g).post("/api/v1/gateway/batch", { uapk_id: UAPK, agent_id: UAPK, actions });
    expect(reply.status).toBe(400);
    expect(reply.body.errors[0].pointer).toBe("/body/actions");
  });
});
