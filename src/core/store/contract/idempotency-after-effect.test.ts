// An idempotency key whose answer cannot be stored AFTER its action ran (the UPDATE to `completed` fails: a
// connection cut, a failover) must never be given up: a retry on any node, or a duplicate already waiting, would
// run the action a second time. Nor may the answer be dropped: it was logged and lost, the node stopped renewing the
// key's lease, and once that ran out the next retry settled the key as IDEMPOTENCY_OUTCOME_UNKNOWN — on a node that
// never stopped and had the answer. It is now written until stored, the lease renewed meanwhile. The store is made
// to refuse the completion (while a flag is set) by a trigger on a real PostgreSQL.
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { idempotent } from "../../governance/idempotent";
import type { ExecuteRequest, ExecuteResponse } from "../../governance/types";
import type { AnyKysely } from "../postgres";
import { createSharedIdempotencyStore } from "../shared/idempotency";
import { postgresBackend } from "./backends";
import { ORG } from "./fixtures";

const backend = await postgresBackend("idempotency after the side effect");

/** Short leases, so that a lease NOT renewed would run out during the test. */
const LEASE = { leaseMs: 2_000, renewEveryMs: 200, foreignWaitMs: 300, pollIntervalMs: 20 };

describe.skipIf(!backend)("an idempotency answer that cannot be stored after the action ran", () => {
  let admin: AnyKysely;
  let pools: AnyKysely[];
  let close: () => Promise<void>;

  beforeEach(async () => {
    const opened = await backend!.open();
    ({ db: admin, close } = opened);
    pools = opened.nodes(2);
    // Every completion of a key fails while `refusing`, as a connection lost during that UPDATE would.
    await sql`CREATE TABLE refusing (on_ boolean NOT NULL)`.execute(admin);
    await sql`INSERT INTO refusing VALUES (true)`.execute(admin);
    await sql`CREATE FUNCTION refuse_completion() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN IF (SELECT on_ FROM refusing) THEN RAISE EXCEPTION 'connection lost (simulated)'; END IF;
      RETURN NEW; END $$`.execute(admin);
    await sql`CREATE TRIGGER refuse_completion BEFORE UPDATE ON idempotency_keys FOR EACH ROW
      WHEN (NEW.state = 'completed') EXECUTE FUNCTION refuse_completion()`.execute(admin);
  });
  afterEach(() => close());

  const request = {
    uapk_id: "uapk-pay",
    agent_id: "agent-1",
    action: { type: "payment", tool: "pay", params: { amount: 5 } },
    idempotency_key: "pay-once",
  } as unknown as ExecuteRequest;

  it("runs once: the caller is told it ran and is pending, duplicates that it is in flight, then it replays", async () => {
    let runs = 0;
    let release!: () => void;
    const running = new Promise<void>((ok) => (release = ok));
    const executeOnce = async () => {
      runs++;
      await running;
      return {
        interaction_id: "int-paid",
        decision: "ALLOW",
        executed: true,
        timestamp: new Date().toISOString(),
      } as unknown as ExecuteResponse;
    };
    const [nodeA, nodeB] = pools.map((db) =>
      idempotent(executeOnce, createSharedIdempotencyStore(db, LEASE), undefined, 300),
    );

    const first = nodeA!(ORG, request).catch((err: unknown) => err);
    await expect.poll(() => runs).toBe(1);
    const duplicateOnA = nodeA!(ORG, request).catch((err: unknown) => err);
    release();
    // The action ran, its answer is not stored: the caller is told so (503), not given an answer nothing recorded.
    expect(await first).toMatchObject({ code: "OUTCOME_NOT_YET_RECORDED", interaction_id: "int-paid" });
    expect(await duplicateOnA).toMatchObject({ code: "IDEMPOTENCY_KEY_IN_FLIGHT" });
    // Longer than a lease: node A renews it while it retries, so node B is told "in flight", never "unknown".
    await new Promise((wait) => setTimeout(wait, 2 * LEASE.leaseMs));
    for (const node of [nodeB!, nodeA!])
      expect(await node(ORG, request).catch((err: unknown) => err)).toMatchObject({
        code: "IDEMPOTENCY_KEY_IN_FLIGHT",
      });

    await sql`UPDATE refusing SET on_ = false`.execute(admin);
    const retry = () =>
      nodeB!(ORG, request).then(
        (answer) => answer,
        (err: { code?: string }) => err.code,
      );
    await expect
      .poll(retry, { timeout: 30_000, interval: 200 })
      .toMatchObject({ interaction_id: "int-paid", executed: true, idempotent: true });
    expect(runs).toBe(1);
  }, 90_000);
});
