// A failed call's budget refund on one node while other calls of the same agent and token reserve on another: the
// refund took the counters' rows one by one while a group transaction's UPDATE took the same rows in its own
// order, and PostgreSQL broke the deadlock by aborting one of them — a whole group of executes failed, or the
// refund did (about one operation in six on a 2-core machine). Refunds now run under the org's chain lock too.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AnyKysely } from "../postgres";
import { createSharedStores, type SharedStores } from "../shared";
import { postgresBackend, TEST_SECRET } from "./backends";
import { intentInput, ORG } from "./fixtures";

const backend = await postgresBackend("store contract: refunds racing reservations");

describe.skipIf(!backend)("refunds racing reservations on another node", () => {
  let a: SharedStores;
  let b: SharedStores;
  let close: () => Promise<void>;

  beforeEach(async () => {
    const opened = await backend!.open();
    close = opened.close;
    [a, b] = opened.nodes(2).map((pool: AnyKysely) => createSharedStores(pool, { secret: TEST_SECRET })) as [
      SharedStores,
      SharedStores,
    ];
  });
  afterEach(() => close());

  // The agent's hourly budget and its token's lifetime budget: every call takes (or gives back) a unit of both.
  const slots = [
    { scope: "hour:org-contract:uapk-pay:agent-1", window: 1, limit: 100_000 },
    { scope: "token:tok-1", window: 0, limit: 100_000 },
  ];
  let n = 0;
  const reserve = (node: SharedStores) => {
    const id = `i-${n++}`;
    return node.reservations.reserve({
      org_id: ORG,
      interaction_id: id,
      at: new Date(),
      slots,
      intent: intentInput(id),
    });
  };

  it("neither side is aborted, and the counters end exact", async () => {
    for (let i = 0; i < 20; i++) expect((await reserve(a)).ok).toBe(true); // units to give back
    const failures: unknown[] = [];
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 20 }, () => [
          reserve(a).catch((err: unknown) => failures.push(err)),
          b.reservations.refund(ORG, slots).catch((err: unknown) => failures.push(err)),
        ]).flat(),
      );
    }
    expect(failures.map(String)).toEqual([]);
    // 20 + 10 × 20 taken, 10 × 20 given back.
    expect(await a.budgets.current(slots[0]!.scope, 1)).toBe(20);
    expect(await b.budgets.current(slots[1]!.scope, 0)).toBe(20);
    expect(await a.audit.verify(ORG)).toMatchObject({ valid: true, records: 220 });
  });
});
