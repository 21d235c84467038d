// A node on the shared store measures its clock against the database's (./clock-skew.ts): beyond
// GATEHOUSE_MAX_CLOCK_SKEW_MS it is not ready and refuses governed calls and approval decisions with 503 CLOCK_SKEW.
// The node's clock is injected (never the process's): a real server on the local PostgreSQL, its clock 40 s ahead.
import { afterEach, describe, expect, it, vi } from "vitest";
import { CLOCK_IN_SYNC, CLOCK_UNKNOWN, guardClockSkew, measureClockOffset, refuseWhileSkewed } from "./clock-skew";
import type { GovernanceEngine } from "./core/governance/engine";
import { ActionUnavailableError } from "./core/governance/types";
import { logger } from "./core/log/logger";
import type { ApprovalsService } from "./core/ports";
import { createTestPgDatabase, postgresForTests, type TestPgDatabase } from "./core/store/test-support";
import { toProblem } from "./http/errors";
import { startTestGatehouse, type TestGatehouse } from "./test-support/gatehouse";

const pgAdmin = await postgresForTests("clock skew tests on PostgreSQL");

const running: TestGatehouse[] = [];
const databases: TestPgDatabase[] = [];
afterEach(async () => {
  for (const g of running.splice(0)) await g.dispose();
  for (const db of databases.splice(0)) await db.drop();
});

describe("measuring a node's clock against the database's", () => {
  it("is the database's clock minus the middle of the round trip", async () => {
    let t = 1_000_000;
    const now = () => (t += 100);
    // The database reads 2 000 ms ahead of the middle of a 100 ms round trip.
    expect(await measureClockOffset(async () => t + 50 + 2_000, now)).toBe(2_000);
  });

  it("believes no round trip too long to tell", async () => {
    let t = 0;
    expect(
      await measureClockOffset(
        async () => 0,
        () => (t += 10_000),
      ),
    ).toBeUndefined();
  });
});

describe("the clock-skew guard", () => {
  const guard = (now: () => number, maxSkewMs = 5_000) =>
    guardClockSkew({ databaseNow: async () => Date.now(), now, maxSkewMs, logger, intervalMs: 60_000 });

  it("measures once at a time: a database that stops answering gets no new query every interval", async () => {
    let queries = 0;
    const databaseNow = () => {
      queries++;
      return queries === 1 ? Promise.resolve(Date.now()) : new Promise<number>(() => {});
    };
    const g = await guardClockSkew({ databaseNow, maxSkewMs: 5_000, logger, intervalMs: 5 });
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(queries).toBe(2);
      expect(g.state()).toBe("in_sync");
    } finally {
      g.stop();
    }
  });

  it("is in sync within the bound, skewed beyond it either way, and in sync again once the clock is set right", async () => {
    let ahead = 40_000;
    const g = await guard(() => Date.now() + ahead);
    try {
      expect(g.state()).toBe("skewed:+40000ms");
      ahead = -40_000;
      await g.check();
      expect(g.state()).toBe("skewed:-40000ms");
      ahead = 1_000;
      await g.check();
      expect(g.state()).toBe(CLOCK_IN_SYNC);
    } finally {
      g.stop();
    }
  });

  it("keeps its last measure while the database does not answer; unmeasured until the first", async () => {
    let up = false;
    const g = await guardClockSkew({
      databaseNow: async () => {
        if (!up) throw new Error("ECONNREFUSED");
        return Date.now();
      },
      maxSkewMs: 5_000,
      logger,
      intervalMs: 60_000,
    });
    try {
      expect(g.state()).toBe("unmeasured");
      up = true;
      await g.check();
      expect(g.state()).toBe(CLOCK_IN_SYNC);
      up = false;
      await g.check();
      expect(g.state()).toBe(CLOCK_IN_SYNC);
    } finally {
      g.stop();
    }
  });

  it("gives up a measure the database never answers: unknown (not ready, refused) until one is answered", async () => {
    // A hung database: the pool bounds a query at 30 s, after which the error kept the last state standing for as
    // long as the database hung (and before the measure's own bound, check() never ended).
    let answering = true;
    const databaseNow = () => (answering ? Promise.resolve(Date.now()) : new Promise<number>(() => {}));
    const g = await guardClockSkew({ databaseNow, maxSkewMs: 5_000, logger, intervalMs: 60_000, measureTimeoutMs: 20 });
    const engine = { evaluate: async () => "evaluated" } as unknown as GovernanceEngine;
    const guarded = refuseWhileSkewed({ engine, approvals: {} as ApprovalsService }, g);
    try {
      expect(g.state()).toBe(CLOCK_IN_SYNC);
      answering = false;
      await g.check();
      expect(g.state()).toBe(CLOCK_UNKNOWN);
      const refused = await guarded.engine.evaluate("org", {} as never).catch((err: unknown) => err);
      expect(toProblem(refused)).toMatchObject({ status: 503, code: "CLOCK_SKEW" });
      answering = true;
      await g.check();
      expect(g.state()).toBe(CLOCK_IN_SYNC);
      expect(await guarded.engine.evaluate("org", {} as never)).toBe("evaluated");
    } finally {
      g.stop();
    }
  });

  it("starts on a database that never answers: the start-up measure ends, the node is not ready", async () => {
    const g = await guardClockSkew({
      databaseNow: () => new Promise<number>(() => {}),
      maxSkewMs: 5_000,
      logger,
      intervalMs: 60_000,
      measureTimeoutMs: 20,
    });
    try {
      expect(g.state()).toBe(CLOCK_UNKNOWN);
      expect(g.offsetMs()).toBeUndefined();
    } finally {
      g.stop();
    }
  });

  it("refuses governed calls and approval decisions with 503 CLOCK_SKEW while skewed, not reads", async () => {
    let ahead = 40_000;
    const g = await guard(() => Date.now() + ahead);
    const calls: string[] = [];
    const called = (name: string) => async () => void calls.push(name);
    const engine = {
      evaluate: called("evaluate"),
      authorize: called("authorize"),
      execute: called("execute"),
      batch: called("batch"),
    } as unknown as GovernanceEngine;
    const approvals = { approve: called("approve"), deny: called("deny"), list: called("list") };
    const guarded = refuseWhileSkewed({ engine, approvals: approvals as unknown as ApprovalsService }, g);
    try {
      const refusedCalls = [
        () => guarded.engine.evaluate("org", {} as never),
        () => guarded.engine.authorize("org", {} as never),
        () => guarded.engine.execute("org", {} as never),
        () => guarded.engine.batch("org", {} as never),
        () => guarded.approvals.approve("org", "appr-1", { by: "op" }),
        () => guarded.approvals.deny("org", "appr-1", { by: "op" }),
      ];
      for (const call of refusedCalls) {
        const refused = await (call() as Promise<unknown>).catch((err: unknown) => err);
        expect(refused).toBeInstanceOf(ActionUnavailableError);
        expect(toProblem(refused)).toMatchObject({ status: 503, code: "CLOCK_SKEW" });
      }
      await guarded.approvals.list("org");
      expect(calls).toEqual(["list"]);
      ahead = 0;
      await g.check();
      for (const call of refusedCalls) await call();
      expect(calls).toEqual(["list", "evaluate", "authorize", "execute", "batch", "approve", "deny"]);
    } finally {
      g.stop();
    }
  });

  it("hands out one wrapper per guarded call, not a new one on every read (no closure per governed call)", async () => {
    const g = await guard(() => Date.now());
    const engine = { evaluate: async () => "evaluated", version: "1" } as unknown as GovernanceEngine;
    const approvals = { approve: async () => "approved" } as unknown as ApprovalsService;
    const guarded = refuseWhileSkewed({ engine, approvals }, g);
    try {
      expect(guarded.engine.evaluate).toBe(guarded.engine.evaluate);
      expect(guarded.approvals.approve).toBe(guarded.approvals.approve);
      expect(guarded.engine.evaluate).not.toBe(engine.evaluate); // still the guard's, not the engine's own
      expect(await guarded.engine.evaluate("org", {} as never)).toBe("evaluated");
      expect((guarded.engine as unknown as { version: string }).version).toBe("1");
    } finally {
      g.stop();
    }
  });

  it("measures again at once when the wall clock steps between two measures, refusing meanwhile", async () => {
    // An NTP step, a paused VM, `date -s`: the offset measured before the step is wrong by the step. It stood until
    // the next measure (15 s), with the node in sync and deciding on it.
    let step = 0;
    const g = await guard(() => Date.now() + step);
    const engine = { evaluate: async () => "evaluated" } as unknown as GovernanceEngine;
    const guarded = refuseWhileSkewed({ engine, approvals: {} as ApprovalsService }, g);
    try {
      expect(g.state()).toBe(CLOCK_IN_SYNC);
      step = 25 * 3_600_000;
      const refused = await guarded.engine.evaluate("org", {} as never).catch((err: unknown) => err);
      expect(toProblem(refused)).toMatchObject({ status: 503, code: "CLOCK_SKEW" });
      await vi.waitFor(() => expect(g.state()).toMatch(/^skewed:\+(8999\d{4}|9000\d{4})ms$/));
      step = 0; // set right again (a step back of 25 h): measured again, in sync
      expect(g.state()).toBe("unmeasured");
      await vi.waitFor(() => expect(g.state()).toBe(CLOCK_IN_SYNC));
      step = -60_000;
      expect(g.state()).toBe("unmeasured");
      await vi.waitFor(() => expect(g.state()).toMatch(/^skewed:-(59\d{3}|60\d{3})ms$/));
    } finally {
      g.stop();
    }
  });

  it("believes no measure whose round trip a clock stepped back ran backwards", async () => {
    let t = 1_000_000;
    const now = () => (t -= 60_000);
    expect(await measureClockOffset(async () => 0, now)).toBeUndefined();
  });

  it("is not started on SQLite (one node, one clock): reads and decides as before", () => {
    const services = { engine: {} as GovernanceEngine, approvals: {} as ApprovalsService };
    expect(refuseWhileSkewed(services, undefined)).toBe(services);
  });
});

describe.runIf(pgAdmin)("a node on PostgreSQL whose clock runs 40 s ahead of the database's", () => {
  async function node(now?: () => number): Promise<TestGatehouse> {
    const database = await createTestPgDatabase(pgAdmin!);
    databases.push(database);
    const g = await startTestGatehouse({
      env: { DATABASE_URL: database.url, GATEHOUSE_SECRET: "clock-skew-test-secret" },
      ...(now ? { now } : {}),
    });
    running.push(g);
    return g;
  }

  it("is not ready, naming the skew, and refuses governed calls and approval decisions with 503 CLOCK_SKEW", async () => {
    const g = await node(() => Date.now() + 40_000);
    const ready = await fetch(`${g.url}/readyz`);
    expect(ready.status).toBe(503);
    const problem = (await ready.json()) as { detail: string; errors: unknown[] };
    expect(problem.detail).toMatch(/clock_skew/);
    expect(problem.errors).toContainEqual({
      pointer: "/checks/clock_skew",
      message: expect.stringMatching(/^clock_skew is skewed:\+(39\d{3}|40\d{3})ms$/),
    });

    const evaluate = await fetch(`${g.url}/api/v1/gateway/evaluate`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": g.apiKey },
      body: JSON.stringify({
        uapk_id: "customer-support-bot",
        agent_id: "customer-support-bot",
        action: { type: "email", tool: "send", params: { to: "customer@example.com" } },
      }),
    });
    expect(evaluate.status).toBe(503);
    expect(evaluate.headers.get("content-type")).toMatch(/application\/problem\+json/);
    expect(await evaluate.json()).toMatchObject({ code: "CLOCK_SKEW" });

    const approve = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/approvals/appr-xyz789/approve`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${g.operatorToken}` },
      body: JSON.stringify({ reason: "ok" }),
    });
    expect(approve.status).toBe(503);
    expect(await approve.json()).toMatchObject({ code: "CLOCK_SKEW" });
  });

  it("whose wall clock jumps 25 h ahead after a measure: one list of the approvals expires none of them", async () => {
    let step = 0;
    const g = await node(() => Date.now() + step);
    const approval = await g.approvals.create({
      org_id: g.orgId,
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      action: { type: "crm", tool: "delete", params: { id: "c-1" } },
      reasons: [],
    });
    step = 25 * 3_600_000;
    const listed = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/approvals?status=pending`, {
      headers: { authorization: `Bearer ${g.operatorToken}` },
    });
    expect(listed.status).toBe(200);
    const { items } = (await listed.json()) as { items: { approval_id: string }[] };
    expect(items.map((a) => a.approval_id)).toEqual([approval.approval_id]);
  });

  it("with its clock right, is ready (clock_skew: in_sync) and decides", async () => {
    const g = await node();
    expect(await g.readiness()).toMatchObject({ ready: true, checks: { clock_skew: CLOCK_IN_SYNC } });
  });

  it("a node 25 h ahead sweeps no approval another node wrote before the database's clock says it is overdue", async () => {
    const database = await createTestPgDatabase(pgAdmin!);
    databases.push(database);
    const env = { DATABASE_URL: database.url, GATEHOUSE_SECRET: "clock-skew-test-secret" };
    const a = await startTestGatehouse({ env, conformance: false });
    running.push(a);
    const approval = await a.approvals.create({
      org_id: a.orgId,
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      action: { type: "crm", tool: "delete", params: { id: "c-1" } },
      reasons: [],
    });
    // Node B's clock (the process's Date: every clock the node reads) runs a day ahead.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 25 * 3_600_000 });
    try {
      const b = await startTestGatehouse({ env, conformance: false });
      running.push(b);
      expect(await b.approvals.expireOverdue()).toBe(0);
      expect((await a.approvals.get(a.orgId, approval.approval_id))?.status).toBe("pending");
    } finally {
      vi.useRealTimers();
    }
  });
});
