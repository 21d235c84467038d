// The embedded store's side of a call whose records could not be written after its connector ran (SQLite: a disk
// I/O error, a lock held past busy_timeout): the outcome and the idempotency key's answer were tried a few times,
// then dropped — an intent with no outcome, a key in flight that nobody renewed. They are now written until stored;
// the caller is answered once they are (or told OUTCOME_NOT_YET_RECORDED past the bound) and the key replays the
// original answer. Triggers refuse the two writes while a flag is set; the connector sets it as it runs.
import { describe, expect, it } from "vitest";
import { createAuditLog } from "../audit/audit-log";
import type { ConnectorRegistry } from "../connectors";
import { createIdempotencyStore } from "../idempotency";
import { emailRequest, ORG, supportBot } from "../policy/test-fixtures";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";

const OUTAGE_MS = 3_500; // longer than the three retries an outcome write used to get (2.6 s)

async function wired(recordWaitMs: number, cutOnCall = 1) {
  const db = await openMigratedDatabase(":memory:");
  db.exec(`CREATE TABLE outage (down INTEGER NOT NULL); INSERT INTO outage VALUES (0);
    CREATE TRIGGER refuse_outcome BEFORE INSERT ON audit_records
      WHEN NEW.kind = 'outcome' AND (SELECT down FROM outage) = 1
      BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END;
    CREATE TRIGGER refuse_completion BEFORE UPDATE ON idempotency_keys
      WHEN NEW.state = 'completed' AND (SELECT down FROM outage) = 1
      BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END;`);
  const audit = createAuditLog(db);
  const calls = { count: 0 };
  const connectors: ConnectorRegistry = () => async () => {
    if (++calls.count !== cutOnCall) return { success: true, data: { sent: true } };
    db.exec("UPDATE outage SET down = 1");
    setTimeout(() => db.exec("UPDATE outage SET down = 0"), OUTAGE_MS);
    return { success: true, data: { sent: true } };
  };
  const idempotency = createIdempotencyStore(db);
  const engine = createGovernanceEngine({ db, audit, connectors, idempotency, recordWaitMs });
  engine.manifests.register(ORG, supportBot());
  return { engine, audit, calls };
}

describe("the records of a call that ran while the store refused writes", () => {
  it("answers once its outcome and key are stored: the chain has the outcome, the key replays, one call", async () => {
    const { engine, audit, calls } = await wired(60_000);
    const keyed = emailRequest({ idempotency_key: "send-1" } as never);
    const answer = await engine.execute(ORG, keyed);
    expect(answer).toMatchObject({ decision: "ALLOW", executed: true });
    expect(audit.getInteraction(ORG, answer.interaction_id).map((r) => r.kind)).toEqual(["intent", "outcome"]);
    expect(await engine.execute(ORG, keyed)).toMatchObject({ interaction_id: answer.interaction_id, idempotent: true });
    expect((await audit.verifyChain(ORG)).valid).toBe(true);
    expect(calls.count).toBe(1);
  }, 60_000);

  it("past the bound, says the action ran and is pending; the records land and the key replays", async () => {
    const { engine, audit, calls } = await wired(100);
    const keyed = emailRequest({ idempotency_key: "send-2" } as never);
    const pending = await engine.execute(ORG, keyed).catch((err: unknown) => err);
    expect(pending).toMatchObject({ code: "OUTCOME_NOT_YET_RECORDED", interaction_id: expect.any(String) });
    const { interaction_id } = pending as { interaction_id: string };
    const retry = () =>
      engine.execute(ORG, keyed).then(
        (replayed) => replayed,
        (err: { code?: string }) => err.code,
      );
    await expect
      .poll(retry, { timeout: 30_000, interval: 200 })
      .toMatchObject({ interaction_id, executed: true, idempotent: true });
    expect(audit.getInteraction(ORG, interaction_id).map((r) => r.kind)).toEqual(["intent", "outcome"]);
    expect((await audit.verifyChain(ORG)).valid).toBe(true);
    expect(calls.count).toBe(1);
  }, 60_000);

  it("in a batch, reports the action as run and pending, skips the rest; its key replays once stored", async () => {
    const { engine, audit, calls } = await wired(100, 2);
    const { action } = emailRequest();
    const batch = await engine.batch(ORG, {
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      stop_on_deny: false,
      actions: [
        { action_id: "a1", ...action },
        { action_id: "a2", ...action, idempotency_key: "batch-2" },
        { action_id: "a3", ...action },
      ],
    });
    expect(batch.results).toMatchObject([
      { action_id: "a1", decision: "ALLOW", executed: true },
      { action_id: "a2", decision: "ALLOW", executed: false, result: { error_code: "OUTCOME_NOT_YET_RECORDED" } },
      { action_id: "a3", decision: "SKIPPED", executed: false },
    ]);
    const interactionId = batch.results[1]?.interaction_id;
    const keyed = emailRequest({ idempotency_key: "batch-2" } as never);
    const retry = () =>
      engine.execute(ORG, keyed).then(
        (replayed) => replayed,
        (err: { code?: string }) => err.code,
      );
    await expect
      .poll(retry, { timeout: 30_000, interval: 200 })
      .toMatchObject({ interaction_id: interactionId, executed: true, idempotent: true });
    expect(audit.getInteraction(ORG, interactionId!).map((r) => r.kind)).toEqual(["intent", "outcome"]);
    expect(calls.count).toBe(2);
  }, 60_000);
});
