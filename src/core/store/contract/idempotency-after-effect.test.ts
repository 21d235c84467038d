// An idempotency key whose answer cannot be stored AFTER its action ran (the UPDATE to `completed` fails: a
// connection cut, a failover) must never be given up: a retry on any node, or a duplicate already waiting, would
// run the action a second time. The store is made to refuse the completion by a trigger on a real PostgreSQL.
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { idempotent } from "../../governance/idempotent";
import { ActionConflictError, type ExecuteRequest, type ExecuteResponse } from "../../governance/types";
import type { AnyKysely } from "../postgres";
import { createSharedIdempotencyStore } from "../shared/idempotency";
import { postgresBackend } from "./backends";
import { ORG } from "./fixtures";

const backend = await postgresBackend("idempotency after the side effect");

describe.skipIf(!backend)("an idempotency answer that cannot be stored after the action ran", () => {
  let pools: AnyKysely[];
  let close: () => Promise<void>;

  beforeEach(async () => {
    const opened = await backend!.open();
    close = opened.close;
    pools = opened.nodes(2);
    // Every completion of a key fails, as a connection lost during that UPDATE would.
    await sql`CREATE FUNCTION refuse_completion() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'connection lost (simulated)'; END $$`.execute(opened.db);
    await sql`CREATE TRIGGER refuse_completion BEFORE UPDATE ON idempotency_keys FOR EACH ROW
      WHEN (NEW.state = 'completed') EXECUTE FUNCTION refuse_completion()`.execute(opened.db);
  });
  afterEach(() => close());

  const request = {
    uapk_id: "uapk-pay",
    agent_id: "agent-1",
    action: { type: "payment", tool: "pay", params: { amount: 5 } },
    idempotency_key: "pay-once",
  } as unknown as ExecuteRequest;

  it("the action runs once: the first caller gets its answer, a duplicate on either node is told it is in flight", async () => {
    let runs = 0;
    let release!: () => void;
    const running = new Promise<void>((ok) => (release = ok));
    const executeOnce = async () => {
      runs++;
      await running;
      return { decision: "ALLOW", executed: true, timestamp: new Date().toISOString() } as unknown as ExecuteResponse;
    };
    const [nodeA, nodeB] = pools.map((db) =>
      idempotent(executeOnce, createSharedIdempotencyStore(db, { foreignWaitMs: 300, pollIntervalMs: 20 })),
    );

    const first = nodeA!(ORG, request);
    await expect.poll(() => runs).toBe(1);
    const duplicateOnA = nodeA!(ORG, request).catch((err: unknown) => err);
    release();
    // The action ran: its answer is the caller's, even though the key could not record it.
    expect(await first).toMatchObject({ decision: "ALLOW", executed: true });
    const retryOnB = await nodeB!(ORG, request).catch((err: unknown) => err);
    const retryOnA = await nodeA!(ORG, request).catch((err: unknown) => err);

    expect(runs).toBe(1);
    for (const answer of [await duplicateOnA, retryOnB, retryOnA]) {
      expect(answer).toBeInstanceOf(ActionConflictError);
      expect((answer as ActionConflictError).code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
    }
  });
});
