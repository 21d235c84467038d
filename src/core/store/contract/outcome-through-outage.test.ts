// A call whose connector ran while PostgreSQL went away (~seconds: a failover, a cut network; no node died). Its
// outcome and its idempotency key's answer were written a few times, then dropped: the caller got 200 while nothing
// of it was committed, the chain kept an intent with no outcome for good, the key stayed in flight with its lease no
// longer renewed, and the retry, ~18 s later, was settled as IDEMPOTENCY_OUTCOME_UNKNOWN on a node that had the
// answer. Now both are written until stored: the caller is answered once they are (or told OUTCOME_NOT_YET_RECORDED
// past the bound), and the key replays the original answer. The outage is a TCP proxy in front of the test's
// database, cut by the connector as it runs and restored a few seconds later.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectorRegistry } from "../../connectors";
import { createSharedGovernanceEngine, type SharedGovernanceEngine } from "../../governance/shared-engine";
import type { ExecuteRequest } from "../../governance/types";
import { type AnyKysely, openPostgres } from "../postgres";
import { createSharedStores } from "../shared";
import { createTestPgDatabase, postgresForTests, type TestPgDatabase } from "../test-support";
import { TEST_SECRET } from "./backends";
import { chainOf, ORG } from "./fixtures";
import { type TcpProxy, tcpProxy } from "./tcp-proxy";

const admin = await postgresForTests("outcome through a database outage");

const OUTAGE_MS = 5_000;

const manifest = {
  uapk_id: "pay-bot",
  agent: { id: "pay-bot", name: "Pay Bot" },
  capabilities: ["pay:send"],
  constraints: { max_actions_per_hour: 10 },
  tools: { "pay:send": { connector: { type: "echo" as const } } },
};

const request = (key: string) =>
  ({
    uapk_id: "pay-bot",
    agent_id: "pay-bot",
    action: { type: "pay", tool: "send", params: { ref: key } },
    idempotency_key: key,
  }) as ExecuteRequest;

describe.skipIf(!admin)("the records of a call that ran while the database went away", () => {
  let database: TestPgDatabase;
  let proxy: TcpProxy;
  let calls: number;
  let proxied: AnyKysely[];
  /** The upstream: the database goes away while it acts, and comes back OUTAGE_MS later. */
  const connectors: ConnectorRegistry = () => async () => {
    calls++;
    proxy.cut();
    setTimeout(() => proxy.restore(), OUTAGE_MS);
    return { success: true, data: { paid: true } };
  };

  /** A node: its pool goes through the proxy (the node the outage hits) or straight to the database. */
  function node(options: { throughProxy: boolean; recordWaitMs?: number }): SharedGovernanceEngine {
    const url = new URL(database.url);
    if (options.throughProxy) url.port = String(proxy.port);
    const db = options.throughProxy ? openPostgres(url.toString(), { maxConnections: 5 }) : database.open(5);
    if (options.throughProxy) proxied.push(db);
    const stores = createSharedStores(db, { secret: TEST_SECRET });
    return createSharedGovernanceEngine({
      stores,
      ping: async () => true,
      connectors,
      recordWaitMs: options.recordWaitMs,
    });
  }

  beforeEach(async () => {
    calls = 0;
    proxied = [];
    database = await createTestPgDatabase(admin!);
    await database.openMigrated(2);
    const url = new URL(database.url);
    proxy = await tcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  });
  afterEach(async () => {
    await Promise.all(proxied.map((db) => db.destroy()));
    await proxy.close();
    await database.drop();
  });

  const kindsOf = async (engine: SharedGovernanceEngine, interactionId: string) =>
    (await chainOf(engine.audit, ORG)).filter((r) => r.interaction_id === interactionId).map((r) => r.kind);

  it("answers once its outcome and key are stored: the chain has the outcome, the key replays, one call", async () => {
    const cutOff = node({ throughProxy: true, recordWaitMs: 60_000 });
    const other = node({ throughProxy: false });
    await other.manifests.register(ORG, manifest);

    const answer = await cutOff.execute(ORG, request("pay-1"));
    expect(answer).toMatchObject({ decision: "ALLOW", executed: true, result: { data: { paid: true } } });
    expect(await kindsOf(other, answer.interaction_id)).toEqual(["intent", "outcome"]);
    expect((await other.audit.verify(ORG)).valid).toBe(true);
    for (const engine of [other, cutOff])
      expect(await engine.execute(ORG, request("pay-1"))).toMatchObject({
        interaction_id: answer.interaction_id,
        executed: true,
        idempotent: true,
      });
    expect(calls).toBe(1);
  }, 120_000);

  it("past the bound, says the action ran and is pending; the records land and the key replays the 200", async () => {
    const cutOff = node({ throughProxy: true, recordWaitMs: 300 });
    const other = node({ throughProxy: false });
    await other.manifests.register(ORG, manifest);

    const pending = await cutOff.execute(ORG, request("pay-2")).catch((err: unknown) => err);
    expect(pending).toMatchObject({ code: "OUTCOME_NOT_YET_RECORDED", interaction_id: expect.any(String) });
    const { interaction_id } = pending as { interaction_id: string };
    // The same key, on another node, meanwhile: still in flight (its node keeps its lease), never run again.
    // (It waits for the answer, polling, up to its own bound: the replay, or 409 in flight.)
    const meanwhile = await other.execute(ORG, request("pay-2")).then(
      (replayed) => (replayed.idempotent ? "replayed" : "ran again"),
      (err: { code?: string }) => err.code,
    );
    expect(["replayed", "IDEMPOTENCY_KEY_IN_FLIGHT"]).toContain(meanwhile);

    const retry = () =>
      other.execute(ORG, request("pay-2")).then(
        (replayed) => replayed,
        (err: { code?: string }) => err.code,
      );
    await expect
      .poll(retry, { timeout: 60_000, interval: 500 })
      .toMatchObject({ interaction_id, decision: "ALLOW", executed: true, idempotent: true });
    expect(await kindsOf(other, interaction_id)).toEqual(["intent", "outcome"]);
    expect((await other.audit.verify(ORG)).valid).toBe(true);
    expect(calls).toBe(1);
  }, 120_000);
});
