// Group commit: records asked for in the same turn share one transaction, and each caller still gets its own
// committed record (or its own error).
import { describe, expect, it } from "vitest";
import { groupCommit } from "../store/group-commit";
import { openMigratedDatabase } from "../store/test-support";
import { createAuditLog, newInteractionId } from "./audit-log";

const ORG = "org-acme";
const action = { type: "email", tool: "send", params: { to: "c@example.com" } };

function decisionRecord(agent: string) {
  return {
    org_id: ORG,
    interaction_id: newInteractionId(),
    uapk_id: "support-bot",
    agent_id: agent,
    action,
    decision: "ALLOW" as const,
    reasons: [],
    policy_trace: { checks: [{ check: "tool_authorization", result: "pass" }] },
    meta: { channel: "test" },
  };
}

describe("grouped appends", () => {
  it("concurrent decisions and outcomes are all committed, in one gap-free chain that verifies", async () => {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    const intents = Array.from({ length: 5 }, () => {
      const interaction_id = newInteractionId();
      log.appendIntent({ ...decisionRecord("bot-x"), interaction_id, meta: {} });
      return interaction_id;
    });
    const records = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => log.appendDecisionGrouped(decisionRecord(`bot-${i}`))),
      ...intents.map((interaction_id) =>
        log.appendOutcomeGrouped({ org_id: ORG, interaction_id, executed: true, result: { success: true } }),
      ),
    ]);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => 6 + i));
    expect(records[0]?.agent_id).toBe("bot-0");
    for (const interaction_id of intents) {
      expect(log.getInteraction(ORG, interaction_id).map((r) => r.kind)).toEqual(["intent", "outcome"]);
    }
    expect(await log.verifyChain(ORG)).toMatchObject({ valid: true, records: 30 });
  });

  it("a record that cannot be written fails alone; the others of its group are committed", async () => {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    const results = await Promise.allSettled([
      log.appendDecisionGrouped(decisionRecord("bot-1")),
      log.appendOutcomeGrouped({ org_id: ORG, interaction_id: "int-never-started", executed: true, result: {} }),
      log.appendDecisionGrouped(decisionRecord("bot-2")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/no intent recorded/);
    expect(
      log
        .list(ORG)
        .records.map((r) => r.agent_id)
        .sort(),
    ).toEqual(["bot-1", "bot-2"]);
    expect((await log.verifyChain(ORG)).valid).toBe(true);
  });

  it("a unit that appended and then failed takes its record back: the group's next append chains from the one before", async () => {
    const db = await openMigratedDatabase(":memory:");
    const log = createAuditLog(db);
    const commits = groupCommit(db);
    // The group keeps the chain's head between its appends (audit-log.ts): a rolled-back unit must not leave its
    // record as the head the next unit chains from.
    const results = await Promise.allSettled([
      commits.run(() => log.appendIntent({ ...decisionRecord("bot-1"), meta: {} })),
      commits.run(() => {
        log.appendIntent({ ...decisionRecord("bot-2"), meta: {} });
        throw new Error("idempotency claim taken over");
      }),
      commits.run(() => log.appendIntent({ ...decisionRecord("bot-3"), meta: {} })),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const records = log.list(ORG).records;
    expect(records.map((r) => [r.seq, r.agent_id])).toEqual([
      [2, "bot-3"],
      [1, "bot-1"],
    ]);
    expect(await log.verifyChain(ORG)).toMatchObject({ valid: true, records: 2 });
  });

  it("the engine's reservations and the log's outcomes of one turn are one transaction: one signature for the turn", async () => {
    const db = await openMigratedDatabase(":memory:");
    const log = createAuditLog(db);
    const started = newInteractionId();
    log.appendIntent({ ...decisionRecord("bot-0"), interaction_id: started, meta: {} });
    // What the engine's reservation does (src/core/governance/sqlite-adapters.ts): the intent in a group unit.
    const reserved = Array.from({ length: 3 }, (_, i) =>
      groupCommit(db).run(() => log.appendIntent({ ...decisionRecord(`bot-${i + 1}`), meta: {} })),
    );
    const outcome = log.appendOutcomeGrouped({ org_id: ORG, interaction_id: started, executed: true, result: {} });
    await Promise.all([...reserved, outcome]);
    const turn = log.list(ORG).records.filter((r) => r.seq > 1);
    expect(turn).toHaveLength(4);
    // One group: only its last record carries a signature (it proves the three before it through prev_hash).
    expect(turn.filter((r) => r.signature !== null).map((r) => r.seq)).toEqual([5]);
    expect(await log.verifyChain(ORG)).toMatchObject({ valid: true, records: 5 });
  });
});
