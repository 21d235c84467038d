// Shadow replay of a candidate with a money budget (`constraints.max_amount_per_hour`). The replay seeded the action
// budget of its first hour with the intents recorded in that hour before the first replayed action, but started the
// money budget at 0: a candidate of 800 USD an hour, replayed from 10:10, let through a payment of 300 at 10:20
// though 600 had moved at 10:05. The money is now seeded from the amounts of those recorded intents, as the
// candidate counts them; what it cannot count (a redacted amount) is left out and said in the report's notes.
import { describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { ORG, supportBot } from "../policy/test-fixtures";
import type { ActionRequest, ManifestInput } from "../policy/types";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";
import { createShadowReplay } from "./replay";
import { sqliteAuditHistory } from "./sqlite-history";

const BOT = "replay-pay-bot";

function payBot(perHour: number, tool: Record<string, unknown> = {}): ManifestInput {
  return supportBot({
    uapk_id: BOT,
    agent: { id: BOT, name: "Payments" },
    capabilities: ["payment:send"],
    tools: { "payment:send": { connector: { type: "echo" }, ...tool } },
    constraints: { max_actions_per_hour: 100, max_amount_per_hour: { amount: perHour, currency: "USD" } },
  });
}

const pay = (amount: number, key = "amount"): ActionRequest => ({
  uapk_id: BOT,
  agent_id: BOT,
  action: { type: "payment", tool: "send", params: { to: "shop@example.com", [key]: amount, currency: "USD" } },
});

/**
 * 600 at 10:05, 300 at 10:20, 100 at 10:25, all executed under a budget of 1000; a replay from 10:10. The first
 * payment names its amount `amount`, the others `total_amount` (so a tool redacting `params.amount` hides only it).
 */
async function recorded(tool: Record<string, unknown> = {}) {
  const db = await openMigratedDatabase(":memory:");
  let clock = new Date("2024-12-14T10:05:00Z");
  const now = () => clock;
  const audit = createAuditLog(db, { now });
  const engine = createGovernanceEngine({ db, now, audit, approvals: createApprovalStore(db, { now }) });
  const manifest = engine.manifests.register(ORG, payBot(1000, tool));
  for (const [at, amount] of [
    ["10:05", 600],
    ["10:20", 300],
    ["10:25", 100],
  ] as const) {
    clock = new Date(`2024-12-14T${at}:00Z`);
    expect((await engine.execute(ORG, pay(amount, amount === 600 ? "amount" : "total_amount"))).executed).toBe(true);
  }
  const replay = createShadowReplay({
    history: sqliteAuditHistory(db, audit),
    manifests: engine.manifests,
    tokens: engine.tokens,
  });
  const since = "2024-12-14T10:10:00Z";
  return (candidate: ManifestInput) =>
    replay(ORG, manifest.manifest_id, { candidate: { ...candidate, manifest_id: manifest.manifest_id }, since });
}

const cell = (report: { matrix: { from: string; to: string; count: number }[] }, from: string, to: string) =>
  report.matrix.find((c) => c.from === from && c.to === to)?.count ?? 0;

describe("shadow replay of a money budget", () => {
  it("seeds the first hour with the money the recorded actions before it moved", async () => {
    const replay = await recorded();
    const report = await replay(payBot(800));
    expect(report.replayed).toBe(2);
    // 600 already moved: 300 more passes 800 (DENY), 100 more does not (600 + 100).
    expect(cell(report, "ALLOW", "DENY")).toBe(1);
    expect(cell(report, "ALLOW", "ALLOW")).toBe(1);
    expect(report.reason_changes).toMatchObject([{ code: "BUDGET_EXCEEDED", added: 1 }]);
    expect(report.notes).toBeUndefined();
    // The registered manifest itself changes nothing.
    expect((await replay(payBot(1000))).changed).toBe(0);
  });

  it("says in its notes when a recorded amount before the first replayed action cannot be counted", async () => {
    const replay = await recorded({ redact: ["params.amount"] });
    const report = await replay(payBot(800, { redact: ["params.amount"] }));
    expect(report.notes).toHaveLength(1);
    expect(report.notes?.[0]).toContain("seeded without 1 recorded action(s)");
    expect(report.notes?.[0]).toContain("2024-12-14T10:00:00.000Z");
    // Seeded without the 600 it cannot read: both later payments fit 800, as the note warns.
    expect(cell(report, "ALLOW", "ALLOW")).toBe(2);
  });

  it("says in its notes which replayed actions were stored with params summarised (too large to judge in full)", async () => {
    const db = await openMigratedDatabase(":memory:");
    const audit = createAuditLog(db);
    const engine = createGovernanceEngine({ db, audit, approvals: createApprovalStore(db) });
    const manifest = engine.manifests.register(ORG, payBot(1000));
    const bulky = pay(50);
    bulky.action.params = { ...bulky.action.params, invoice: "x".repeat(10_000) };
    const run = await engine.execute(ORG, bulky);
    expect(run.executed).toBe(true);
    await engine.execute(ORG, pay(60));
    const replay = createShadowReplay({
      history: sqliteAuditHistory(db, audit),
      manifests: engine.manifests,
      tokens: engine.tokens,
    });
    const report = await replay(ORG, manifest.manifest_id, {
      candidate: { ...payBot(1000), manifest_id: manifest.manifest_id },
    });
    expect(report.replayed).toBe(2);
    expect(report.notes).toEqual([expect.stringContaining(`1 replayed action(s) were stored with params summarised`)]);
    expect(report.notes?.[0]).toContain(run.interaction_id);
  });
});
