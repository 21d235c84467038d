// A node SIGKILLed while it held an idempotency key used to leave the key `in_flight` for its whole 24 h TTL on
// every other node (and on SQLite after a restart): each retry waited 30 s and got 409 IDEMPOTENCY_KEY_IN_FLIGHT,
// for a day, even when the dead node had not yet written anything. Claims now carry a lease their owner renews
// (src/core/idempotency/leases.ts). A "crashed" node here is a store whose lease is short and never renewed.
// On SQLite the nodes share one database file (a restart); on PostgreSQL each has its own pool.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectorRegistry } from "../../connectors";
import type { ReservationStore } from "../../governance/ports";
import { createSharedGovernanceEngine } from "../../governance/shared-engine";
import { onlyTheUnkeyedCallRan, pausedBeforeReservation } from "../../governance/test-support";
import { ActionConflictError, type ExecuteRequest } from "../../governance/types";
import { idempotencyRequestHash } from "../../idempotency";
import { emailRequest, ORG, supportBot } from "../../policy/test-fixtures";
import type { AnyKysely } from "../postgres";
import { createSharedStores } from "../shared";
import { createSharedIdempotencyStore, type SharedIdempotencyOptions } from "../shared/idempotency";
import { contractBackends, TEST_SECRET } from "./backends";
import { chainOf } from "./fixtures";

const request = { ...emailRequest(), idempotency_key: "send-once" } as ExecuteRequest;
const scope = { org_id: ORG, agent_id: request.agent_id, key: "send-once" };
const requestHash = idempotencyRequestHash(request as unknown as Record<string, unknown>);
/** A node that stops renewing at once: its claim is expired 100 ms after it was made. */
const CRASHING: SharedIdempotencyOptions = { leaseMs: 100, renewEveryMs: 600_000 };
const ALIVE: SharedIdempotencyOptions = { foreignWaitMs: 5_000, pollIntervalMs: 20 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A connector that counts its runs; `hang` makes every run wait until `finish()`. */
function countingConnector(options: { hang?: boolean; takesMs?: number } = {}) {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const counter = { runs: 0, finish };
  const registry: ConnectorRegistry = () => async () => {
    counter.runs++;
    if (options.hang) await finished;
    if (options.takesMs) await sleep(options.takesMs);
    return { success: true, data: { run: counter.runs } };
  };
  return { counter, registry };
}

describe.each(await contractBackends("store contract: idempotency leases"))(
  "an idempotency key whose node died ($name)",
  (backend) => {
    let pools: AnyKysely[];
    let close: () => Promise<void>;

    beforeEach(async () => {
      const opened = await backend.open();
      close = opened.close;
      pools = backend.name === "postgres" ? opened.nodes(3) : [opened.db, opened.db, opened.db];
      await engineOn(0).manifests.register(ORG, supportBot());
    });
    afterEach(() => close());

    function engineOn(
      node: number,
      idempotency: SharedIdempotencyOptions = ALIVE,
      connectors?: ConnectorRegistry,
      wrap: (reservations: ReservationStore) => ReservationStore = (reservations) => reservations,
    ) {
      const stores = createSharedStores(pools[node]!, { secret: TEST_SECRET });
      return createSharedGovernanceEngine({
        stores: {
          ...stores,
          reservations: wrap(stores.reservations),
          idempotency: createSharedIdempotencyStore(pools[node]!, idempotency),
        },
        ping: async () => true,
        ...(connectors ? { connectors } : {}),
      });
    }
    const failure = (err: unknown) => err as ActionConflictError;

    it("(a) crash before the intent: the retry runs the action, once, without waiting the whole foreign wait", async () => {
      const crashed = createSharedIdempotencyStore(pools[0]!, CRASHING);
      expect((await crashed.begin({ ...scope, requestHash })).state).toBe("new");
      const { counter, registry } = countingConnector();
      const retrying = engineOn(1, ALIVE, registry);

      const started = Date.now();
      const answer = await retrying.execute(ORG, request);
      expect(answer).toMatchObject({ decision: "ALLOW", executed: true });
      expect(Date.now() - started).toBeLessThan(2_000); // the lease (100 ms), not the 5 s wait
      expect(await retrying.execute(ORG, request)).toMatchObject({
        interaction_id: answer.interaction_id,
        idempotent: true,
      });
      expect(counter.runs).toBe(1);
      expect((await chainOf(retrying.audit, ORG)).map((r) => r.kind)).toEqual(["intent", "outcome"]);
    });

    it("(b) crash after the intent: every retry gets the final 409 naming the interaction; the action ran once", async () => {
      const { counter, registry } = countingConnector({ hang: true });
      const dying = engineOn(0, CRASHING, registry);
      const firstCall = dying.execute(ORG, request); // its connector hangs: the node "dies" mid-call
      await expect.poll(() => counter.runs).toBe(1);
      const intent = (await chainOf(dying.audit, ORG)).find((r) => r.kind === "intent")!;
      await sleep(150);

      const [retryB, retryC] = [engineOn(1, ALIVE, registry), engineOn(2, ALIVE, registry)];
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? retryB : retryC).execute(ORG, request).catch(failure)),
      );
      for (const answer of answers) {
        expect(answer).toBeInstanceOf(ActionConflictError);
        expect(answer).toMatchObject({
          code: "IDEMPOTENCY_OUTCOME_UNKNOWN",
          details: { interaction_id: intent.interaction_id },
        });
      }
      // Settled for good: the next retry is answered at once.
      const started = Date.now();
      await expect(retryB.execute(ORG, request)).rejects.toMatchObject({ code: "IDEMPOTENCY_OUTCOME_UNKNOWN" });
      expect(Date.now() - started).toBeLessThan(500);

      // One settlement record, however many retries raced to settle the key.
      const chain = await chainOf(retryB.audit, ORG);
      expect(chain.map((r) => r.kind)).toEqual(["intent", "decision"]);
      expect(chain[1]).toMatchObject({
        decision: "DENY",
        executed: false,
        reasons: [{ code: "IDEMPOTENCY_OUTCOME_UNKNOWN" }],
        meta: { idempotency_key: "send-once", idempotency_outcome_unknown: { interaction_id: intent.interaction_id } },
      });
      expect((await retryB.audit.verify(ORG)).valid).toBe(true);

      // The "dead" node wakes up after all: its caller gets its answer; the key stays settled, nothing re-ran.
      counter.finish();
      expect(await firstCall).toMatchObject({ executed: true });
      await expect(retryC.execute(ORG, request)).rejects.toMatchObject({ code: "IDEMPOTENCY_OUTCOME_UNKNOWN" });
      expect(counter.runs).toBe(1);
    });

    it("(c) nodes racing to take over one expired claim: exactly one executes, the others get its answer", async () => {
      const crashed = createSharedIdempotencyStore(pools[0]!, CRASHING);
      await crashed.begin({ ...scope, requestHash });
      await sleep(150);
      const { counter, registry } = countingConnector({ takesMs: 50 });
      const [b, c] = [engineOn(1, ALIVE, registry), engineOn(2, ALIVE, registry)];

      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? b : c).execute(ORG, request)));
      expect(counter.runs).toBe(1);
      expect(new Set(answers.map((a) => a.interaction_id)).size).toBe(1);
      expect(answers.filter((a) => a.idempotent)).toHaveLength(9);
    });

    /**
     * Node 0 (its lease never renewed) takes `keyed` and a call without a key, and both wait at a gate after the
     * claim, before reserving, until the lease has run out. `paused.release()` wakes them; `late` settles with both.
     */
    async function pausedNode(registry: ConnectorRegistry, keyed: ExecuteRequest) {
      let paused!: ReturnType<typeof pausedBeforeReservation>;
      const stopping = engineOn(0, CRASHING, registry, (reservations) => {
        paused = pausedBeforeReservation(reservations);
        return paused.store;
      });
      const late = Promise.allSettled([stopping.execute(ORG, keyed), stopping.execute(ORG, emailRequest())]);
      await expect.poll(() => paused.waiting).toBe(2);
      await sleep(150); // its lease runs out
      return { paused, late };
    }

    it("(c') a node paused or killed between its claim and its reservation: the retry runs the call; the old node, when it wakes, writes nothing and runs nothing", async () => {
      // The claim's link used to be its own commit before the reservation: a node SIGKILLed in between left a
      // linked claim with no intent, and the retry of a call that never ran got 409 IDEMPOTENCY_OUTCOME_UNKNOWN
      // naming an interaction the audit log does not hold. The link is now written in the reservation's commit.
      const { counter, registry } = countingConnector();
      const { paused, late } = await pausedNode(registry, request);

      const retrying = engineOn(1, ALIVE, registry);
      const retried = await retrying.execute(ORG, request);
      expect(retried).toMatchObject({ decision: "ALLOW", executed: true });
      expect(retried.idempotent).toBeUndefined();

      // It wakes: both reservations reach one group transaction; the keyed one writes nothing (no budget unit,
      // no intent, no link) and does not run; the other is reserved and runs.
      paused.release();
      const otherId = await onlyTheUnkeyedCallRan(late);
      expect(counter.runs).toBe(2);
      const intents = (await chainOf(retrying.audit, ORG)).filter((r) => r.kind === "intent");
      expect(intents.map((r) => r.interaction_id).sort()).toEqual([retried.interaction_id, otherId].sort());
      expect(await retrying.execute(ORG, request)).toMatchObject({
        interaction_id: retried.interaction_id,
        idempotent: true,
      });
      // Two units taken: the refused reservation's was given back in its transaction.
      expect((await retrying.execute(ORG, emailRequest())).risk_snapshot?.budget_current).toBe(3);
      expect((await retrying.audit.verify(ORG)).valid).toBe(true);
    });

    /**
     * A crm:delete ESCALATEd and approved on node 1; node 0 then takes its keyed re-submit (with the approval) and a
     * call without a key, paused as in `pausedNode`.
     */
    async function approvedCallOnPausedNode(record: string) {
      const { counter, registry } = countingConnector();
      const del = emailRequest({ action: { type: "crm", tool: "delete", params: { record_id: record } } });
      const asking = engineOn(1, ALIVE, registry);
      const escalated = await asking.execute(ORG, del);
      expect(escalated).toMatchObject({ decision: "ESCALATE", executed: false });
      const approvalId = escalated.approval_id!;
      await asking.approvals.decide(ORG, approvalId, { approved: true, decided_by: "ops@acme.com" });
      const approved = { ...del, approval_id: approvalId, idempotency_key: `delete-${record}` } as ExecuteRequest;

      const { paused, late } = await pausedNode(registry, approved);
      return { counter, registry, asking, approvalId, approved, paused, late };
    }

    it("(c'') the same with an approval: the retry spends it and runs once; the old node's reservation spends nothing, writes nothing and runs nothing", async () => {
      // The keyed reservation that loses its claim also carries an approval: its unit (budget unit, approval
      // consumption, intent, link) rolls back as one, and the approval is consumed once, by the retry that ran.
      const { counter, registry, asking, approvalId, approved, paused, late } = await approvedCallOnPausedNode("rec-9");

      const retried = await engineOn(1, ALIVE, registry).execute(ORG, approved);
      expect(retried).toMatchObject({ decision: "ALLOW", executed: true });

      // It wakes: the approval is spent (checked before the claim's link), so its keyed call is refused for that.
      paused.release();
      const [lost, other] = await late;
      expect(lost).toMatchObject({ status: "rejected", reason: { code: "APPROVAL_ALREADY_CONSUMED" } });
      expect(other).toMatchObject({ status: "fulfilled", value: { executed: true } });
      const otherId = (other as PromiseFulfilledResult<{ interaction_id: string }>).value.interaction_id;
      expect(counter.runs).toBe(2);
      expect((await asking.approvals.get(ORG, approvalId))?.status).toBe("consumed");
      const chain = await chainOf(asking.audit, ORG);
      const intents = chain.filter((r) => r.kind === "intent");
      expect(intents.map((r) => r.interaction_id).sort()).toEqual([retried.interaction_id, otherId].sort());
      expect(intents.filter((r) => r.approval_id === approvalId).map((r) => r.interaction_id)).toEqual([
        retried.interaction_id,
      ]);
      // Two units taken (the delete and the unkeyed email); the refused reservation's was given back.
      expect((await asking.execute(ORG, emailRequest())).risk_snapshot?.budget_current).toBe(3);
      expect((await asking.audit.verify(ORG)).valid).toBe(true);
    });

    it("(c'') with an approval the retry did not spend: the old node's reservation, refused for its lost claim, gives it back unspent", async () => {
      // The link is the last write of a reservation that consumed an approval: when it finds the claim taken over,
      // the consumption rolls back with the budget unit and the intent, and the approval can still be used.
      const { counter, registry, asking, approvalId, approved, paused, late } =
        await approvedCallOnPausedNode("rec-10");

      // The retry takes the claim over and is refused by the policy (the agent is suspended meanwhile): it spends
      // nothing. The agent is active again before the old node wakes.
      const manifest_id = (await asking.manifests.list(ORG))[0]!.manifest_id;
      expect(await asking.manifests.setStatus(ORG, manifest_id, "suspended", "ops@acme.com")).toBeDefined();
      expect(await engineOn(1, ALIVE, registry).execute(ORG, approved)).toMatchObject({
        decision: "DENY",
        executed: false,
      });
      await asking.manifests.setStatus(ORG, manifest_id, "active", "ops@acme.com");

      paused.release();
      await onlyTheUnkeyedCallRan(late);
      expect(counter.runs).toBe(1);
      expect((await asking.approvals.get(ORG, approvalId))?.status).toBe("approved");
      const chain = await chainOf(asking.audit, ORG);
      expect(chain.filter((r) => r.kind === "intent" && r.approval_id === approvalId)).toEqual([]);

      // The approval is still good for its action, once.
      const { idempotency_key: _, ...withoutKey } = approved;
      expect(await asking.execute(ORG, withoutKey)).toMatchObject({ decision: "ALLOW", executed: true });
      expect((await asking.approvals.get(ORG, approvalId))?.status).toBe("consumed");
      expect((await asking.audit.verify(ORG)).valid).toBe(true);
    });

    it("(d) a slow owner that renews its lease is never taken over: the retry waits for its answer", async () => {
      const { counter, registry } = countingConnector({ takesMs: 1_500 });
      const slow = engineOn(0, { leaseMs: 600, renewEveryMs: 150 }, registry);
      const first = slow.execute(ORG, request);
      await expect.poll(() => counter.runs).toBe(1);

      const retry = await engineOn(1, ALIVE, registry).execute(ORG, request);
      const answer = await first;
      expect(counter.runs).toBe(1);
      expect(retry).toMatchObject({ interaction_id: answer.interaction_id, idempotent: true, executed: true });
    });
  },
);
