// After a connector ran, its outcome must reach the audit chain even when the bookkeeping around it fails: the
// refund of a failed call's budget unit, or remembering a successful call's counterparty (a connection cut, a
// failover). Both ran first and, when they threw, the outcome was never recorded: the chain showed an intent with
// no outcome for a call that had run, on a node that stayed up. Each failure is a trigger on a real PostgreSQL.
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSharedGovernanceEngine, type SharedGovernanceEngine } from "../../governance/shared-engine";
import { ORG } from "../../policy/test-fixtures";
import type { AnyKysely } from "../postgres";
import { createSharedStores } from "../shared";
import { postgresBackend, TEST_SECRET } from "./backends";
import { chainOf } from "./fixtures";

const backend = await postgresBackend("outcome after store errors");

const manifest = {
  uapk_id: "outcome-bot",
  agent: { id: "outcome-bot", name: "Outcome Bot" },
  capabilities: ["email:send", "notify:send"],
  constraints: { max_actions_per_hour: 10 },
  policy: { counterparty_allowlist: ["*@example.com"] },
  tools: {
    "email:send": { connector: { type: "echo" as const } },
    // Nothing listens on port 9: the call runs and fails, so its budget unit is refunded.
    "notify:send": {
      connector: {
        type: "webhook" as const,
        url: "http://127.0.0.1:9/x",
        allowed_hosts: ["127.0.0.1"],
        allow_private: true,
      },
    },
  },
};

/** Makes `table` refuse the statement `on` (only for rows matching `when`), as a lost connection would. */
async function refuse(db: AnyKysely, table: string, on: string, when = "true") {
  await sql
    .raw(
      `CREATE FUNCTION refuse_${table}() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN RAISE EXCEPTION 'connection lost (simulated)'; END $$;
       CREATE TRIGGER refuse_${table} BEFORE ${on} ON ${table} FOR EACH ROW WHEN (${when})
       EXECUTE FUNCTION refuse_${table}()`,
    )
    .execute(db);
}

describe.skipIf(!backend)("the outcome of a call that ran, when the store refuses the bookkeeping", () => {
  let db: AnyKysely;
  let engine: SharedGovernanceEngine;
  let close: () => Promise<void>;

  beforeEach(async () => {
    ({ db, close } = await backend!.open());
    engine = createSharedGovernanceEngine({
      stores: createSharedStores(db, { secret: TEST_SECRET }),
      ping: async () => true,
    });
    await engine.manifests.register(ORG, manifest);
  });
  afterEach(() => close());

  const send = (type: string, params: Record<string, unknown>) =>
    engine.execute(ORG, { uapk_id: "outcome-bot", agent_id: "outcome-bot", action: { type, tool: "send", params } });

  const kindsOf = async (interactionId: string) =>
    (await chainOf(engine.audit, ORG)).filter((r) => r.interaction_id === interactionId).map((r) => r.kind);

  it("a failed call whose refund fails still has its outcome", async () => {
    await refuse(db, "action_budget_counters", "UPDATE", "NEW.count < OLD.count"); // the refund only
    const answer = await send("notify", { to: "ops@example.com" });
    expect(answer).toMatchObject({ decision: "ALLOW", executed: false });
    expect(await kindsOf(answer.interaction_id)).toEqual(["intent", "outcome"]);
    expect((await engine.audit.verify(ORG)).valid).toBe(true);
  });

  it("a successful call whose counterparty cannot be remembered still has its outcome", async () => {
    await refuse(db, "known_counterparties", "INSERT");
    const answer = await send("email", { to: "customer@example.com", subject: "Hi" });
    expect(answer).toMatchObject({ decision: "ALLOW", executed: true });
    expect(await kindsOf(answer.interaction_id)).toEqual(["intent", "outcome"]);
    expect((await engine.audit.verify(ORG)).valid).toBe(true);
  });
});
