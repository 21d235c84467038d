// The embedded store (SQLite, one node) on a wall clock stepped back (an NTP step, `date -s`): its audit records
// were stamped a minute before the previous one, and the org's chain then failed its own verification for good
// ("seq N … ms before that of seq N-1"). The append now refuses such a record as the shared store's does
// (src/core/audit/step-back.ts): the call is refused 503 CLOCK_SKEW before anything runs or is spent. A clock that
// steps back while the connector runs no longer loses the outcome: it is stamped at the head's time.
import { describe, expect, it } from "vitest";
import { createAuditLog } from "../audit/audit-log";
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
