// A call with an idempotency key that fails because the database went away answers 503 — an invitation to retry.
// Nothing ran, so the key must be given up; but its release needs the database that is away. The key was left in
// flight, and every retry of the request, on any node, was refused with 409 IDEMPOTENCY_KEY_IN_FLIGHT for the
// key's 24 h. The outage is a trigger that refuses the key's DELETE while a flag is set.
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { idempotent } from "../../governance/idempotent";
import type { ExecuteRequest, ExecuteResponse } from "../../governance/types";
import type { AnyKysely } from "../postgres";
import { createSharedIdempotencyStore } from "../shared/idempotency";
import { postgresBackend } from "./backends";
import { ORG } from "./fixtures";

const backend = await postgresBackend("idempotency key across a database outage");

describe.skipIf(!backend)("an idempotency key whose call failed while the database was away", () => {
  let admin: AnyKysely;
  let pools: AnyKysely[];
  let close: () => Promise<void>;

  beforeEach(async () => {
    const opened = await backend!.open();
    ({ db: admin, close } = opened);
    pools = opened.nodes(2);
    await sql`CREATE TABLE outage (down boolean NOT NULL)`.execute(admin);
    await sql`INSERT INTO outage VALUES (false)`.execute(admin);
    await sql`CREATE FUNCTION refuse_when_down() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN IF (SELECT down FROM outage) THEN RAISE EXCEPTION 'database unavailable (simulated)'; END IF;
      RETURN OLD; END $$`.execute(admin);
    await sql`CREATE TRIGGER refuse_when_down BEFORE DELETE ON idempotency_keys FOR EACH ROW
      EXECUTE FUNCTION refuse_when_down()`.execute(admin);
  });
  afterEach(() => close());

  const outage = (down: boolean) => sql`UPDATE outage SET down = ${down}`.execute(admin);
  const request = {
    uapk_id: "uapk-pay",
    agent_id: "agent-1",
    action: { type: "payment", tool: "pay", params: { amount: 5 } },
    idempotency_key: "pay-after-outage",
  } as unknown as ExecuteRequest;

  it("is given up once the database is back: the retry runs the call (once), on any node", async () => {
    let runs = 0;
    const executeOnce = async () => {
      runs++;
      if (runs === 1) {
        await outage(true); // the database goes away while the call is being decided
        throw new Error("database unavailable");
      }
      return { decision: "ALLOW", executed: true, timestamp: new Date().toISOString() } as unknown as ExecuteResponse;
    };
    const [nodeA, nodeB] = pools.map((db) =>
      idempotent(executeOnce, createSharedIdempotencyStore(db, { foreignWaitMs: 300, pollIntervalMs: 20 })),
    );

    // The caller hears the call's own failure (the REST face answers it with 503), not the failed release.
    await expect(nodeA!(ORG, request)).rejects.toThrow("database unavailable");
    await outage(false);

    const retry = () =>
      nodeB!(ORG, request).then(
        (answer) => answer.decision,
        (err: { code?: string }) => err.code,
      );
    await expect.poll(retry, { timeout: 15_000, interval: 200 }).toBe("ALLOW");
    expect(runs).toBe(2);
    // Done: the same key now replays that answer.
    expect(await nodeA!(ORG, request)).toMatchObject({ decision: "ALLOW", idempotent: true });
    expect(runs).toBe(2);
  });
});
