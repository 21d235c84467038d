// One signature per group commit (group-signature.ts): the group's last record of the chain is signed, the others
// are proven through it — and a chain whose end is unsigned, or whose unsigned record was changed, fails.

import { createPublicKey } from "node:crypto";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { openMigratedDatabase } from "../store/test-support";
import { createAuditLog, newInteractionId } from "./audit-log";
import type { AuditRecord } from "./record";
import { verifyRecords } from "./verify";

const ORG = "org-acme";

function decision(agent: string) {
  return {
    org_id: ORG,
    interaction_id: newInteractionId(),
    uapk_id: "support-bot",
    agent_id: agent,
    action: { type: "email", tool: "send", params: { to: "c@example.com" } },
    decision: "DENY" as const,
    reasons: [{ code: "COUNTERPARTY_BLOCKED", message: "blocked" }],
    policy_trace: { checks: [] },
  };
}

async function groupedChain() {
  const log = createAuditLog(await openMigratedDatabase(":memory:"));
  await Promise.all(Array.from({ length: 10 }, (_, i) => log.appendDecisionGrouped(decision(`bot-${i}`))));
  await Promise.all(Array.from({ length: 5 }, (_, i) => log.appendDecisionGrouped(decision(`late-${i}`))));
  const records = (await text(log.exportJsonlStream(ORG)))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line)) as unknown[];
  records.pop(); // the signed chain head
  const keys = new Map(
    log.publicJwks().keys.map((jwk) => [jwk.kid, createPublicKey({ key: { ...jwk }, format: "jwk" })]),
  );
  return { log, records: records as AuditRecord[], keyOf: (kid: string) => keys.get(kid) };
}

describe("one signature per group commit", () => {
  it("signs exactly the last record of each group, and the whole chain verifies", async () => {
    const { log, records, keyOf } = await groupedChain();
    expect(records.map((r) => r.signature !== null)).toEqual([
      ...Array.from({ length: 9 }, () => false),
      true,
      ...Array.from({ length: 4 }, () => false),
      true,
    ]);
    expect(await log.verifyChain(ORG)).toMatchObject({ valid: true, records: 15 });
    expect(verifyRecords(records, keyOf)).toMatchObject({ valid: true, records: 15 });
  });

  it("a changed unsigned record breaks the chain at that record", async () => {
    const { records, keyOf } = await groupedChain();
    const tampered = records.map((r) => ({ ...r }));
    tampered[3] = { ...tampered[3]!, agent_id: "someone-else" };
    expect(verifyRecords(tampered, keyOf)).toMatchObject({ valid: false, first_invalid_seq: 4, records: 3 });
  });

  it("a chain cut after an unsigned record, or whose last signature was removed, is refused", async () => {
    const { records, keyOf } = await groupedChain();
    expect(verifyRecords(records.slice(0, 12), keyOf)).toMatchObject({
      valid: false,
      first_invalid_seq: 11,
      records: 10,
      reason: expect.stringMatching(/unsigned record\(s\) at the end/),
    });
    const stripped = records.map((r, i) => (i === records.length - 1 ? { ...r, signature: null } : r));
    expect(verifyRecords(stripped, keyOf)).toMatchObject({ valid: false, first_invalid_seq: 11 });
  });

  it("when the group's last unit rolls back, the record before it is the one signed", async () => {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    const results = await Promise.allSettled([
      log.appendDecisionGrouped(decision("bot-1")),
      log.appendDecisionGrouped(decision("bot-2")),
      log.appendOutcomeGrouped({ org_id: ORG, interaction_id: "int-never-started", executed: true, result: {} }),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    const [second, first] = log.list(ORG).records;
    expect(first?.signature).toBeNull();
    expect(second?.signature).toEqual(expect.any(String));
    expect(await log.verifyChain(ORG)).toMatchObject({ valid: true, records: 2 });
  });

  it("a record appended on its own is signed at once", async () => {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    expect(log.appendDecision(decision("bot-1")).signature).toEqual(expect.any(String));
  });
});
