// The risk snapshot (evaluate / execute answers, an approval's `risk.budget`) showed only the hourly action budget:
// an operator approving a payment could not see that the agent had already moved most of its hourly money budget.
// With `constraints.max_amount_per_hour` it now carries amount_current / amount_limit / amount_currency /
// amount_percent beside the unchanged budget_* fields.
import { describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { ORG, supportBot } from "../policy/test-fixtures";
import type { ActionRequest, ManifestInput } from "../policy/types";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";

const BOT = "snapshot-bot";

function bot(constraints: NonNullable<ManifestInput["constraints"]>): ManifestInput {
  return supportBot({
    uapk_id: BOT,
    agent: { id: BOT, name: "Snapshot" },
    capabilities: ["payment:send", "payment:quote"],
    tools: { "payment:send": { connector: { type: "echo" } }, "payment:quote": { connector: { type: "echo" } } },
    constraints,
    policy: { amount_threshold: { amount: 500, currency: "USD", actions: ["payment:send"] } },
  });
}

const pay = (amount: number): ActionRequest => ({
  uapk_id: BOT,
  agent_id: BOT,
  action: { type: "payment", tool: "send", params: { to: "shop@example.com", amount, currency: "USD" } },
});
const quote: ActionRequest = {
  uapk_id: BOT,
  agent_id: BOT,
  action: { type: "payment", tool: "quote", params: { to: "shop@example.com" } },
};

async function wired(manifest: ManifestInput) {
  const db = await openMigratedDatabase(":memory:");
  const now = () => new Date("2024-12-14T10:30:00Z");
  const approvals = createApprovalStore(db, { now, expirySweepMs: 0 });
  const engine = createGovernanceEngine({ db, now, approvals, audit: createAuditLog(db, { now }) });
  engine.manifests.register(ORG, manifest);
  return { engine, approvals };
}

const money = { max_amount_per_hour: { amount: 1000, currency: "USD" }, max_actions_per_hour: 10 };

describe("the risk snapshot with a money budget", () => {
  it("evaluate and execute show the money budget beside the action budget", async () => {
    const { engine } = await wired(bot(money));
    expect((await engine.evaluate(ORG, pay(400))).risk_snapshot).toEqual({
      budget_current: 0,
      budget_limit: 10,
      budget_percent: 0,
      amount_current: 0,
      amount_limit: 1000,
      amount_currency: "USD",
      amount_percent: 0,
    });
    const executed = await engine.execute(ORG, pay(400));
    expect(executed.executed).toBe(true);
    expect(executed.risk_snapshot).toMatchObject({ budget_current: 1, amount_current: 400, amount_percent: 40 });
    // An action without an amount spends none of it, and still shows it.
    const quoted = await engine.execute(ORG, quote);
    expect(quoted.risk_snapshot).toEqual({
      budget_current: 2,
      budget_limit: 10,
      budget_percent: 20,
      amount_current: 400,
      amount_limit: 1000,
      amount_currency: "USD",
      amount_percent: 40,
    });
    expect((await engine.evaluate(ORG, quote)).risk_snapshot).toMatchObject({ amount_current: 400 });
  });

  it("an approval's risk shows what was spent of the money budget when it was asked", async () => {
    const { engine, approvals } = await wired(bot(money));
    expect((await engine.execute(ORG, pay(300.5))).executed).toBe(true);
    const escalated = await engine.execute(ORG, pay(600));
    expect(escalated.decision).toBe("ESCALATE");
    expect(approvals.get(ORG, escalated.approval_id!)?.risk?.budget).toEqual({
      budget_current: 1,
      budget_limit: 10,
      budget_percent: 10,
      amount_current: 300.5,
      amount_limit: 1000,
      amount_currency: "USD",
      amount_percent: 30.05,
    });
  });

  it("without a money budget the snapshot is as before", async () => {
    const { engine } = await wired(bot({ max_actions_per_hour: 10 }));
    const executed = await engine.execute(ORG, pay(400));
    expect(executed.risk_snapshot).toEqual({ budget_current: 1, budget_limit: 10, budget_percent: 10 });
  });
});
