// The gateway's own resources belong to one org each: this machine's purutos (GATEHOUSE_PURUTO_ORG), its
// GATEHOUSE_SECRET_* variables and private network (GATEHOUSE_SECRETS_ORG). Another org may not run the purutos
// directly (403 ORG_FORBIDDEN on /purutos) — nor use any of them through a manifest of its own: the policy DENYs
// such a tool (TOOL_NOT_AUTHORIZED) on evaluate and execute, and nothing runs or is sent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, registerManifest, startReceiver, type Receiver } from "./helpers";

const UAPK = "balance-bot";
const BALANCE = { type: "finance", tool: "balance", params: { account: "main" } };

let g: TestGatehouse;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  // The callers' org (the default org) owns neither the purutos nor the secrets.
  g = await startTestGatehouse({
    env: {
      GATEHOUSE_PURUTO_ORG: "puruto-owners",
      GATEHOUSE_SECRETS_ORG: "secret-owners",
      GATEHOUSE_SECRET_OWNERS_TOKEN: "tok-of-another-tenant",
    },
  });
  const toReceiver = { type: "http", method: "POST", url: `${receiver.url}/hook`, allowed_hosts: ["127.0.0.1"] };
  await registerManifest(g, {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Balance Bot" },
    capabilities: ["finance:balance", "crm:token", "crm:local"],
    constraints: { max_actions_per_hour: 100 },
    tools: {
      "finance:balance": { connector: { type: "puruto", puruto: "puruto-financial", command: "balance" } },
      "crm:token": {
        connector: {
          ...toReceiver,
          allow_private: true,
          headers: { Authorization: { secret_ref: "GATEHOUSE_SECRET_OWNERS_TOKEN", prefix: "Bearer " } },
        },
      },
      "crm:local": { connector: { ...toReceiver, allow_private: true } },
    },
  });
});

afterAll(async () => {
  await g?.dispose();
  await receiver?.close();
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

  it.each(["token", "local"])(
    "an http tool naming another org's secret or reaching the private network (crm:%s) is DENIED, nothing sent",
    async (tool) => {
      const reply = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, { type: "crm", tool }));
      expect(reply.body).toMatchObject({ decision: "DENY", executed: false });
      expect(reply.body.reasons.map((r: { code: string }) => r.code)).toEqual(["TOOL_NOT_AUTHORIZED"]);
      expect(receiver.received).toHaveLength(0);
    },
  );
});
