// An evidence bundle's proof segment (verifySegment): one org's contiguous records from wherever they start, checked
// by the same verifier as whole chains, so a segment is refused for what a chain is refused for.
import { describe, expect, it } from "vitest";
import { jwksToKeys } from "../../cli/audit-verify";
import { openMigratedDatabase } from "../store/test-support";
import { createAuditLog, newInteractionId } from "./audit-log";
import { verifySegment } from "./verify";

/** Org A's chain of five records, the n-th stamped `clock[n]` (or the last one), and org B's first record. */
async function logOf(clock: string[]) {
  let now = clock[0]!;
  // No step-back refusal at the append (./step-back.ts): the log must write the chains the verifier is to refuse.
  const verify = { maxStepBackMs: Number.POSITIVE_INFINITY };
  const log = createAuditLog(await openMigratedDatabase(":memory:"), { now: () => new Date(now), verify });
  const deny = (org: string, n: number) => {
    now = clock[Math.min(n, clock.length - 1)]!;
    return log.appendDecision({
      org_id: org,
      interaction_id: newInteractionId(),
      uapk_id: "bot",
      agent_id: "bot",
      action: { type: "email", tool: "send", params: {} },
      decision: "DENY",
      reasons: [{ code: "BUDGET_EXCEEDED", message: "x" }],
      policy_trace: { checks: [] },
    });
  };
  for (let i = 0; i < 5; i++) deny("org-a", i);
  deny("org-b", 0);
  const keys = jwksToKeys(log.publicJwks());
  return { log, key: (kid: string) => keys.get(kid) };
}

const steady = ["2026-12-06T10:00:00.000Z"];

describe("verifySegment", () => {
  it("accepts a segment that starts mid-chain, and refuses one that ends on another org's first record", async () => {
    const { log, key } = await logOf(steady);
    const a = log.chainPage("org-a", 2, 10);
    expect(verifySegment(a, key)).toEqual({ valid: true });
    // Before, a foreign record passed when it was the segment's last: the check counted the orgs before adding it.
    expect(verifySegment([...a, ...log.chainPage("org-b", 1, 1)], key)).toMatchObject({
      valid: false,
      seq: 1,
      reason: "records of another org in the segment",
    });
  });

  it("refuses a segment whose signed records step back in time beyond the tolerance, as a chain is refused", async () => {
    const { log, key } = await logOf([
      "2026-12-06T10:00:00.000Z",
      "2026-12-06T10:00:01.000Z",
      "2026-12-06T09:00:00.000Z",
      "2026-12-06T10:00:03.000Z",
    ]);
    const verdict = verifySegment(log.chainPage("org-a", 1, 10), key);
    expect(verdict).toMatchObject({ valid: false, seq: 3 });
    expect(verdict.valid === false && verdict.reason).toMatch(/ms before that of seq 2/);
  });
});
