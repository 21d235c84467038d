// The embedded store (SQLite, one node) on a wall clock stepped back (an NTP step, `date -s`): its audit records
// were stamped a minute before the previous one, and the org's chain then failed its own verification for good
// ("seq N … ms before that of seq N-1"). The append now refuses such a record as the shared store's does
// (src/core/audit/step-back.ts): the call is refused 503 CLOCK_SKEW before anything runs or is spent. A clock that
// steps back while the connector runs no longer loses the outcome: it is stamped at the head's time.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { runAuditVerify } from "../../cli/audit-verify";
import { type AuditLog, createAuditLog } from "../audit/audit-log";
import type { ConnectorRegistry } from "../connectors";
import { emailRequest, ORG, supportBot } from "../policy/test-fixtures";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";
import { ActionUnavailableError } from "./types";

async function wired() {
  const clock = { step: 0 };
  const now = () => new Date(Date.parse("2024-12-14T10:30:00Z") + clock.step);
  const runs = { count: 0 };
  const counting: ConnectorRegistry = () => async () => ({ success: true, data: { run: ++runs.count } });
  const db = await openMigratedDatabase(":memory:");
  const audit = createAuditLog(db, { now });
  const service = createGovernanceEngine({ db, now, audit, connectors: counting });
  service.manifests.register(ORG, supportBot());
  return { service, audit, clock, runs };
}

describe("an execute on a clock stepped back 60 s (embedded SQLite store)", () => {
  it("is refused CLOCK_SKEW with nothing run or spent; the chain still verifies; appends resume once the clock is back", async () => {
    const { service, audit, clock, runs } = await wired();
    const first = await service.execute(ORG, emailRequest());
    expect(first).toMatchObject({ executed: true, risk_snapshot: { budget_current: 1 } });

    clock.step = -60_000;
    const refused = await service.execute(ORG, emailRequest()).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ActionUnavailableError);
    expect(refused).toMatchObject({ code: "CLOCK_SKEW" });
    expect(runs.count).toBe(1);
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 2 });

    clock.step = 0;
    const later = await service.execute(ORG, emailRequest());
    // The refused call took no unit of the hourly budget: this is the second one spent.
    expect(later).toMatchObject({ executed: true, risk_snapshot: { budget_current: 2 } });
    expect(runs.count).toBe(2);
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 4 });
  });
});

describe("an execute whose clock steps back 60 s while its connector runs (embedded SQLite store)", () => {
  it("records the outcome at the intent's time, the chain verifies, and the call answers its result", async () => {
    const clock = { step: 0 };
    const now = () => new Date(Date.parse("2024-12-14T10:30:00Z") + clock.step);
    const stepping: ConnectorRegistry = () => async () => {
      clock.step = -60_000; // an NTP step or `date -s` between the intent and the outcome
      return { success: true, data: { sent: "yes" } };
    };
    const db = await openMigratedDatabase(":memory:");
    const audit = createAuditLog(db, { now });
    const service = createGovernanceEngine({ db, now, audit, connectors: stepping });
    service.manifests.register(ORG, supportBot());

    const answer = await service.execute(ORG, emailRequest());
    expect(answer).toMatchObject({ executed: true, result: { success: true, data: { sent: "yes" } } });
    const records = audit.getInteraction(ORG, answer.interaction_id);
    expect(records.map((r) => r.kind)).toEqual(["intent", "outcome"]);
    expect(records[1]!.timestamp).toBe(records[0]!.timestamp);
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 2 });
  });
});

// A wall clock that jumped forward (a VM resumed on a wrong RTC, a `date -s` typo) and was corrected: the record it
// stamped became the org's chain head, a day ahead, and every intent, decision and approval verdict after it was
// refused CLOCK_SKEW as stamped too far before it, until real time reached that stamp: the org was locked out, with
// no way back. The node's clock has not stepped back during this process (its monotonic clock says so): the head is
// the one off, and the next records are stamped at its time, as an outcome is.
describe("an execute after a wall clock jumped forward 24 h and was corrected (embedded SQLite store)", () => {
  const DAY = 24 * 3600_000;

  it("runs, stamped at the head's time, and the chain verifies, in `audit verify` too", async () => {
    const { service, audit, clock, runs } = await wired();
    clock.step = DAY;
    const ahead = await service.execute(ORG, emailRequest());
    expect(ahead).toMatchObject({ executed: true });

    clock.step = 60_000; // NTP corrects the clock a minute later
    const after = await service.execute(ORG, emailRequest());
    expect(after).toMatchObject({ executed: true, result: { success: true } });
    expect(runs.count).toBe(2);
    const head = audit.getInteraction(ORG, ahead.interaction_id).at(-1)!;
    const records = audit.getInteraction(ORG, after.interaction_id);
    expect(records.map((r) => r.kind)).toEqual(["intent", "outcome"]);
    expect(records.map((r) => r.timestamp)).toEqual([head.timestamp, head.timestamp]);
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 4 });
    expect(await auditVerifyOf(audit)).toMatchObject({ code: 0 });

    // Once real time passes the head, records carry their own time again.
    clock.step = DAY + 1_000;
    const later = await service.execute(ORG, emailRequest());
    expect(audit.getInteraction(ORG, later.interaction_id)[0]!.timestamp).toBe("2024-12-15T10:30:01.000Z");
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 6 });
  });

  it("runs after a restart on the corrected clock, the head stamped a day ahead by the process before", async () => {
    const db = await openMigratedDatabase(":memory:");
    const at = (step: number) => () => new Date(Date.parse("2024-12-14T10:30:00Z") + step);
    const ok: ConnectorRegistry = () => async () => ({ success: true, data: {} });
    const before = createAuditLog(db, { now: at(DAY) });
    const first = createGovernanceEngine({ db, now: at(DAY), audit: before, connectors: ok });
    first.manifests.register(ORG, supportBot());
    await first.execute(ORG, emailRequest());

    const audit = createAuditLog(db, { now: at(0) });
    const service = createGovernanceEngine({ db, now: at(0), audit, connectors: ok });
    expect(await service.execute(ORG, emailRequest())).toMatchObject({ executed: true });
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 4 });
    expect(await auditVerifyOf(audit)).toMatchObject({ code: 0 });
  });

  it("is still refused CLOCK_SKEW when the clock then steps back during the process behind the time it counted", async () => {
    const clock = { step: 0, elapsed: 0 };
    const now = () => new Date(Date.parse("2024-12-14T10:30:00Z") + clock.step);
    const db = await openMigratedDatabase(":memory:");
    const audit = createAuditLog(db, { now, monotonicNow: () => clock.elapsed });
    const ok: ConnectorRegistry = () => async () => ({ success: true, data: {} });
    const service = createGovernanceEngine({ db, now, audit, connectors: ok });
    service.manifests.register(ORG, supportBot());
    clock.step = DAY;
    await service.execute(ORG, emailRequest());

    clock.elapsed = 3_600_000; // an hour on, the clock is set an hour back from where it should read
    clock.step = 0;
    const refused = await service.execute(ORG, emailRequest()).catch((err: unknown) => err);
    expect(refused).toMatchObject({ code: "CLOCK_SKEW" });
    clock.step = 3_600_000;
    expect(await service.execute(ORG, emailRequest())).toMatchObject({ executed: true });
    expect(await audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 4 });
  });
});

/** `gatehouse audit verify` of the org's exported chain: its exit code and what it wrote on stderr. */
async function auditVerifyOf(audit: AuditLog): Promise<{ code: number; err: string }> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-forward-jump-"));
  try {
    writeFileSync(join(dir, "chain.jsonl"), await text(audit.exportJsonlStream(ORG)));
    writeFileSync(join(dir, "jwks.json"), JSON.stringify(audit.publicJwks()));
    const err: string[] = [];
    const args = [join(dir, "chain.jsonl"), "--jwks", join(dir, "jwks.json")];
    const code = await runAuditVerify(args, { stdout: () => {}, stderr: (l) => err.push(l) });
    return { code, err: err.join("\n") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
