// This machine's purutos belong to one org (GATEHOUSE_PURUTO_ORG). Another org may not run them directly
// (403 ORG_FORBIDDEN on /purutos) — nor through a manifest of its own whose tool is a `puruto` connector: the
// policy DENYs such a tool (TOOL_NOT_AUTHORIZED) on evaluate and execute, and nothing runs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, registerManifest } from "./helpers";

const UAPK = "balance-bot";
const BALANCE = { type: "finance", tool: "balance", params: { account: "main" } };

let g: TestGatehouse;

beforeAll(async () => {
  // The callers' org (the default org) is not the purutos' org.
  g = await startTestGatehouse({ env: { GATEHOUSE_PURUTO_ORG: "puruto-owners" } });
  await registerManifest(g, {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Balance Bot" },
    capabilities: ["finance:balance"],
    constraints: { max_actions_per_hour: 100 },
    tools: { "finance:balance": { connector: { type: "puruto", puruto: "puruto-financial", command: "balance" } } },
  });
});

afterAll(async () => {
  await g?.dispose();
});

describe("a puruto tool of another org", () => {
  it("is refused on /purutos directly", async () => {
    const direct = await agent(g).post("/purutos/puruto-financial/balance", { account: "main" });
    expect(direct.status).toBe(403);
    expect(direct.body.code).toBe("ORG_FORBIDDEN");
  });

  it("is DENIED by the policy through a manifest: evaluate says so and execute runs nothing", async () => {
    const evaluated = await agent(g).post("/api/v1/gateway/evaluate", executeBody(UAPK, BALANCE));
    expect(evaluated.status).toBe(200);
    expect(evaluated.body.decision).toBe("DENY");
    expect(evaluated.body.reasons.map((r: { code: string }) => r.code)).toEqual(["TOOL_NOT_AUTHORIZED"]);

    const executed = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, BALANCE));
    expect(executed.status).toBe(200);
    expect(executed.body).toMatchObject({ decision: "DENY", executed: false });
    expect(executed.body.reasons[0].message).toContain("belong to another org");
    // The command's answer (the accounts' balances) never reaches the agent.
    expect(JSON.stringify(executed.body)).not.toContain("accounts");
  });
});
