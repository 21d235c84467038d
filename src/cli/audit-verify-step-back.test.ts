// Nodes sharing one chain stamp records on their own clocks, allowed GATEHOUSE_MAX_CLOCK_SKEW_MS off the database's:
// a record may be stamped a little before its predecessor, never an hour. `audit verify` accepted any step back, so
// records reordered or backdated in a re-signed chain, or written by a clock nobody checked, verified.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { afterAll, describe, expect, it } from "vitest";
import { createAuditLog, newInteractionId } from "../core/audit/audit-log";
import { openMigratedDatabase } from "../core/store/test-support";
import { runAuditVerify } from "./audit-verify";

const ORG = "org-clocks";
const dir = mkdtempSync(join(tmpdir(), "gatehouse-verify-step-back-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An exported chain of three records, the third stamped `backMs` before the second. */
async function exportWithStepBack(backMs: number): Promise<{ file: string; jwks: string }> {
  let t = Date.parse("2026-12-06T12:00:00.000Z");
  // No step-back refusal at the append (src/core/audit/step-back.ts): the log must write the chain `audit verify` is to
  // judge, as a re-signed or unchecked one would be.
  const verify = { maxStepBackMs: Number.POSITIVE_INFINITY };
  const log = createAuditLog(await openMigratedDatabase(":memory:"), { now: () => new Date(t), verify });
  for (const step of [0, 1_000, -backMs]) {
    t += step;
    log.appendDecision({
      org_id: ORG,
      interaction_id: newInteractionId(),
      uapk_id: "bot",
      agent_id: "bot",
      action: { type: "email", tool: "send", params: { to: "a@example.com" } },
      decision: "DENY",
      reasons: [{ code: "BUDGET_EXCEEDED", message: "over" }],
      policy_trace: { checks: [{ check: "budget_check", result: "fail" }] },
    });
  }
  const name = newInteractionId();
  const file = join(dir, `${name}.jsonl`);
  const jwks = join(dir, `${name}.jwks.json`);
  writeFileSync(file, await text(log.exportJsonlStream(ORG)));
  writeFileSync(jwks, JSON.stringify(log.publicJwks()));
  return { file, jwks };
}

async function verify(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const code = await runAuditVerify(args, { stdout: () => {}, stderr: (l) => err.push(l) });
  return { code, err: err.join("\n") };
}

describe("audit verify and timestamps that step back", () => {
  it("fails a record stamped an hour before its predecessor, naming its seq", async () => {
    const { file, jwks } = await exportWithStepBack(3_600_000);
    const { code, err } = await verify([file, "--jwks", jwks]);
    expect(code).toBe(1);
    expect(err).toContain("FAIL: record seq 3,");
    expect(err).toMatch(/timestamp of seq 3 \(2026-12-06T11:00:01\.000Z\) is 3600000 ms before that of seq 2/);
    expect(err).toContain("2 record(s) before it verified");
  });

  it("passes a step back of 2 s (two nodes' clocks within the skew bound)", async () => {
    const { file, jwks } = await exportWithStepBack(2_000);
    expect(await verify([file, "--jwks", jwks])).toEqual({ code: 0, err: "" });
  });

  it("takes another tolerance with --max-step-back-ms, and refuses one that is not a number of ms", async () => {
    const { file, jwks } = await exportWithStepBack(2_000);
    expect((await verify([file, "--jwks", jwks, "--max-step-back-ms", "1000"])).code).toBe(1);
    expect((await verify([file, "--jwks", jwks, "--max-step-back-ms", "1e309"])).code).toBe(2);
    expect((await verify([file, "--jwks", jwks, "--max-step-back-ms", "-1"])).code).toBe(2);
  });
});
