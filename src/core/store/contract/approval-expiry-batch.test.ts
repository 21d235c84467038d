// A flood of overdue approvals on the shared store: expiring them all in the transaction of one read (an audit
// append and a manifest read each, under the org's chain lock) made a `GET …/approvals?limit=1` with 1,200 overdue
// take 2 s and stalled every verdict of the org on every node meanwhile. A sweep now expires at most EXPIRY_BATCH,
// as the embedded store's does (src/core/approvals/expiry-scale.test.ts); the approval a request reads or decides is
// expired on its own even beyond that batch; the timer catches up; every expiry has exactly one audit record, even
// with two nodes sweeping at once.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EXPIRY_BATCH } from "../../approvals";
import { createMemoryEventBus } from "../../events/memory-bus";
import type { ApprovalsService } from "../../ports";
import { createSharedApprovalsService, createSharedStores, type SharedStores } from "../shared";
import { postgresBackend, TEST_SECRET } from "./backends";
import { approvalInput, chainOf, ORG } from "./fixtures";

const backend = await postgresBackend("approval expiry in batches");
const TTL_MS = 60_000;
/** More than two batches: a read, then a decision, each leave overdue approvals behind. */
const FLOOD = EXPIRY_BATCH * 2 + 50;

interface Node {
  stores: SharedStores;
  service: ApprovalsService;
}

describe.skipIf(!backend)("approval expiry in batches on the shared store", () => {
  let nodes: Node[];
  let close: () => Promise<void>;
  let clock: number;

  beforeEach(async () => {
    clock = Date.parse("2026-01-01T00:00:00Z");
    const now = () => new Date(clock);
    const opened = await backend!.open();
    close = opened.close;
    nodes = opened.nodes(2).map((pool) => {
      const stores = createSharedStores(pool, { secret: TEST_SECRET, now });
      const service = createSharedApprovalsService({
        db: pool,
        approvals: stores.approvals,
        audit: stores.audit,
        events: createMemoryEventBus(),
        now,
      });
      return { stores, service };
    });
  });
  afterEach(async () => {
    for (const { service } of nodes) service.close();
    await close();
  });

  const node = (i: number) => nodes[i % nodes.length]!;

  /** FLOOD approvals that expire first, then `targets` that expire 1 ms later (beyond every batch). */
  async function flood(targets: number): Promise<string[]> {
    const { approvals } = node(0).stores;
    for (let start = 0; start < FLOOD; start += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, FLOOD - start) }, (_, i) =>
          approvals.create({ ...approvalInput(start + i + 1), ttl_ms: TTL_MS }),
        ),
      );
    const ids: string[] = [];
    for (let i = 0; i < targets; i++)
      ids.push((await approvals.create({ ...approvalInput(FLOOD + i + 1), ttl_ms: TTL_MS + 1 })).approval_id);
    clock += TTL_MS + 2;
    return ids;
  }

  /** Expiry records per approval id, from the org's chain. */
  async function expiryRecords(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const record of await chainOf(node(0).stores.audit, ORG))
      if (record.kind === "approval" && (record.meta as { approval_status?: string }).approval_status === "expired")
        counts.set(record.approval_id!, (counts.get(record.approval_id!) ?? 0) + 1);
    return counts;
  }

  async function countExpired(): Promise<number> {
    return (await node(0).service.list(ORG, { status: "expired", limit: 1000 })).length;
  }

  it("a read expires one batch, not the whole flood; the timer's sweep catches up, one record each", async () => {
    await flood(0);
    const seen: string[] = [];
    node(0).service.onDecided((a) => seen.push(a.approval_id));

    await node(0).service.list(ORG, { limit: 1 });
    expect(seen).toHaveLength(EXPIRY_BATCH);
    expect((await expiryRecords()).size).toBe(EXPIRY_BATCH);

    // The gateway-wide sweep (the notifier's timer) expires the rest, a batch per transaction.
    expect(await node(1).service.expireOverdue()).toBe(FLOOD - EXPIRY_BATCH);
    const records = await expiryRecords();
    expect(records.size).toBe(FLOOD);
    expect([...records.values()].every((n) => n === 1)).toBe(true);
    expect(await node(0).stores.audit.verify(ORG)).toMatchObject({ valid: true });
  });

  it("the approval read or decided is expired even beyond the batch, and is never approved or denied", async () => {
    const [read, denied, approved] = await flood(3);
    const seen: string[] = [];
    node(0).service.onDecided((a) => seen.push(`${a.approval_id}:${a.status}`));

    expect((await node(0).service.get(ORG, read!))?.status).toBe("expired");
    expect(seen).toHaveLength(EXPIRY_BATCH + 1);
    expect(seen).toContain(`${read}:expired`);

    const deny = await node(0).service.deny(ORG, denied!, { by: "ops@acme.com" });
    expect(deny).toMatchObject({ ok: false, code: "EXPIRED", approval: { status: "expired" } });
    expect(seen).toHaveLength(2 * EXPIRY_BATCH + 2);
    expect(seen).toContain(`${denied}:expired`);

    const approve = await node(0).service.approve(ORG, approved!, { by: "ops@acme.com" });
    expect(approve).toMatchObject({ ok: false, code: "EXPIRED", approval: { status: "expired" } });
    expect(seen).toContain(`${approved}:expired`);

    const records = await expiryRecords();
    for (const id of [read!, denied!, approved!]) expect(records.get(id)).toBe(1);
    const verdicts = (await chainOf(node(0).stores.audit, ORG)).filter((r) => r.kind === "approval");
    expect(verdicts.map((r) => (r.meta as { approval_status: string }).approval_status)).not.toContain("approved");
    expect(verdicts.map((r) => (r.meta as { approval_status: string }).approval_status)).not.toContain("denied");
  });

  it("two nodes sweeping, reading and deciding at once expire each approval exactly once", async () => {
    const targets = await flood(4);
    await Promise.all(
      Array.from({ length: 16 }, (_, i) => {
        const on = node(i).service;
        const target = targets[i % targets.length]!;
        switch (i % 4) {
          case 0:
            return on.list(ORG, { limit: 1 });
          case 1:
            return on.expireOverdue();
          case 2:
            return on.get(ORG, target);
          default:
            return i % 8 === 3
              ? on.deny(ORG, target, { by: "ops@acme.com" })
              : on.approve(ORG, target, { by: "ops@acme.com" });
        }
      }),
    );
    await node(1).service.expireOverdue();
    expect(await countExpired()).toBe(FLOOD + targets.length);
    const records = await expiryRecords();
    expect(records.size).toBe(FLOOD + targets.length);
    expect([...records.values()].filter((n) => n !== 1)).toEqual([]);
    expect(await node(1).stores.audit.verify(ORG)).toMatchObject({ valid: true });
  });
});
