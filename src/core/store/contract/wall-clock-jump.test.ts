// A node's wall clock that jumps between two measures of its offset (NTP step, paused VM, `date -s`). The shared
// stores' clock was the wall clock plus the last offset, so the jump passed straight into them until the next
// measure (up to 15 s): +25 h ran a resent idempotency key again and expired every pending approval, +1 h gave a
// spent hourly budget a fresh hour, −60 s stamped audit records a minute back (a chain its verifier rejects for good).
// The aligned clock now runs on the monotonic clock from the last measure; the wall clock is injected and stepped.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { alignedClock } from "../../../clock-skew";
import type { ConnectorRegistry } from "../../connectors";
import { createMemoryEventBus } from "../../events/memory-bus";
import { createSharedGovernanceEngine } from "../../governance/shared-engine";
import { ActionUnavailableError } from "../../governance/types";
import { BudgetCounters } from "../../policy/budget-counters";
import { emailRequest, supportBot } from "../../policy/test-fixtures";
import type { ApprovalsService } from "../../ports";
import type { AnyKysely } from "../postgres";
import { createSharedApprovalsService, createSharedStores, type SharedStores } from "../shared";
import { postgresBackend, TEST_SECRET } from "./backends";
import { approvalInput, chainOf, intentInput, ORG } from "./fixtures";

const backend = await postgresBackend("wall clock jumps between two measures");
const HOUR = 3_600_000;

describe.skipIf(!backend)("a node whose wall clock jumps between two measures (shared store)", () => {
  /** How far the node's wall clock has been stepped. */
  let step: number;
  const nodeNow = () => Date.now() + step;
  let pool: AnyKysely;
  let clock: ReturnType<typeof alignedClock>;
  let stores: SharedStores;
  let approvals: ApprovalsService & { close(): void };
  let close: () => Promise<void>;

  beforeEach(async () => {
    step = 0;
    const opened = await backend!.open();
    pool = opened.db;
    close = opened.close;
    clock = alignedClock(nodeNow);
    clock.align(0); // the last measure: the node's clock agreed with the database's
    stores = createSharedStores(pool, { secret: TEST_SECRET, now: clock.now });
    approvals = createSharedApprovalsService({
      db: pool,
      approvals: stores.approvals,
      audit: stores.audit,
      events: createMemoryEventBus(),
      now: clock.now,
    });
  });
  afterEach(async () => {
    approvals.close();
    await close();
  });

  it("+25 h: the same idempotency key replays its answer, the call does not run again", async () => {
    const scope = { org_id: ORG, agent_id: "agent-1", key: "order-12345" };
    expect((await stores.idempotency.begin({ ...scope, requestHash: "h" })).state).toBe("new");
    await stores.idempotency.complete(scope, { decision: "ALLOW", executed: true });
    step = 25 * HOUR;
    const again = await stores.idempotency.begin({ ...scope, requestHash: "h" });
    expect(again).toMatchObject({ state: "replay", response: { decision: "ALLOW", executed: true } });
  });

  it("+25 h: listing the approvals expires none of the pending ones", async () => {
    const { approval_id } = await stores.approvals.create(approvalInput());
    step = 25 * HOUR;
    const listed = await approvals.list(ORG);
    expect(listed.map((a) => [a.approval_id, a.status])).toEqual([[approval_id, "pending"]]);
  });

  it("+1 h: a spent hourly budget stays spent (its hour does not move)", async () => {
    const reserve = (i: number) =>
      stores.reservations.reserve({
        org_id: ORG,
        interaction_id: `i-${i}`,
        at: new Date(),
        // As the budget check takes its window: the hour of the engine's clock (the aligned one).
        slots: [{ scope: "hour:org:uapk:agent", window: BudgetCounters.hourWindow(clock.now()), limit: 5 }],
        intent: intentInput(`i-${i}`),
      });
    for (let i = 0; i < 5; i++) expect((await reserve(i)).ok).toBe(true);
    step = HOUR;
    expect((await reserve(5)).ok).toBe(false);
  });

  it("−60 s: the records appended after the jump keep the chain verifiable", async () => {
    await stores.audit.appendIntent(intentInput("before"));
    step = -60_000;
    await stores.audit.appendIntent(intentInput("after"));
    expect(await stores.audit.verify(ORG)).toEqual({ valid: true, records: 2, orgs: 1 });
  });
});

describe.skipIf(!backend)("an audit append on a clock far behind its chain's head (shared store)", () => {
  let step: number;
  let stores: SharedStores;
  let close: () => Promise<void>;

  beforeEach(async () => {
    step = 0;
    const opened = await backend!.open();
    close = opened.close;
    // The wall clock itself, unaligned: what reaches the chain if a clock ever escapes the guard.
    stores = createSharedStores(opened.db, { secret: TEST_SECRET, now: () => new Date(Date.now() + step) });
  });
  afterEach(() => close());

  it("is refused (503 CLOCK_SKEW, nothing written) beyond the verifier's step back; the chain still verifies", async () => {
    await stores.audit.appendIntent(intentInput("before"));
    step = -60_000;
    const refused = await stores.audit.appendIntent(intentInput("after")).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ActionUnavailableError);
    expect(refused).toMatchObject({ code: "CLOCK_SKEW" });
    const refusedReservation = await stores.reservations
      .reserve({ org_id: ORG, interaction_id: "r", at: new Date(), slots: [], intent: intentInput("r") })
      .catch((err: unknown) => err);
    expect(refusedReservation).toMatchObject({ code: "CLOCK_SKEW" });
    expect(await stores.audit.verify(ORG)).toEqual({ valid: true, records: 1, orgs: 1 });
    step = 0;
    await stores.audit.appendIntent(intentInput("later"));
    expect(await stores.audit.verify(ORG)).toEqual({ valid: true, records: 2, orgs: 1 });
  });
});

describe.skipIf(!backend)("an execute whose clock steps back 60 s while its connector runs (shared store)", () => {
  it("records the outcome at the intent's time, the chain verifies, and the call answers its result", async () => {
    const { db, close } = await backend!.open();
    try {
      let step = 0;
      // The wall clock itself, unaligned, as above: the outcome's append is the one that sees the step.
      const now = () => new Date(Date.now() + step);
      const stepping: ConnectorRegistry = () => async () => {
        step = -60_000; // an NTP step or `date -s` between the intent and the outcome
        return { success: true, data: { sent: "yes" } };
      };
      const stores = createSharedStores(db, { secret: TEST_SECRET, now });
      const engine = createSharedGovernanceEngine({ stores, now, connectors: stepping, ping: async () => true });
      await engine.manifests.register(ORG, supportBot());

      const answer = await engine.execute(ORG, emailRequest());
      expect(answer).toMatchObject({ executed: true, result: { success: true, data: { sent: "yes" } } });
      const records = (await chainOf(stores.audit, ORG)).filter((r) => r.interaction_id === answer.interaction_id);
      expect(records.map((r) => r.kind)).toEqual(["intent", "outcome"]);
      expect(records[1]!.timestamp).toBe(records[0]!.timestamp);
      expect(await stores.audit.verify(ORG)).toEqual({ valid: true, records: 2, orgs: 1 });
    } finally {
      await close();
    }
  });
});
