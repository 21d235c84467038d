// Many verdicts at once on one node (an operator approving a list): each verdict's transaction read the approval's
// manifest from the pool while holding its own connection, so with as many verdicts as connections every one
// waited for a connection none would give back — the node's pool stuck until the 30 s connection timeout, and the
// verdicts failed ("timeout exceeded when trying to connect"). The read now runs on the transaction's connection.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMemoryEventBus } from "../../events/memory-bus";
import type { ApprovalsService } from "../../ports";
import { createSharedApprovalsService, createSharedStores, type SharedStores } from "../shared";
import { postgresBackend, TEST_SECRET } from "./backends";
import { approvalInput, chainOf, ORG } from "./fixtures";

const backend = await postgresBackend("many verdicts at once on one node");
/** Connections in the pool `nodes(1)` opens (./backends.ts). */
const POOL = 5;

describe.skipIf(!backend)("many verdicts at once on one node", () => {
  let stores: SharedStores;
  let service: ApprovalsService;
  let close: () => Promise<void>;

  beforeEach(async () => {
    const opened = await backend!.open();
    close = opened.close;
    const pool = opened.nodes(1)[0]!; // a node's pool of 5 connections (./backends.ts)
    stores = createSharedStores(pool, { secret: TEST_SECRET });
    service = createSharedApprovalsService({
      db: pool,
      approvals: stores.approvals,
      audit: stores.audit,
      events: createMemoryEventBus(),
    });
  });
  afterEach(async () => {
    service.close?.();
    await close();
  });

  it("four times as many verdicts as pooled connections all commit, each with its record", async () => {
    const ids: string[] = [];
    for (let i = 1; i <= POOL * 4; i++) ids.push((await service.create(approvalInput(i))).approval_id);
    const results = await Promise.all(
      ids.map((id, i) => (i % 2 ? service.approve : service.deny)(ORG, id, { by: "ops@acme.com" })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(ids.length);
    const records = (await chainOf(stores.audit, ORG)).filter((r) => r.kind === "approval");
    expect(records).toHaveLength(ids.length);
    expect(await stores.audit.verify(ORG)).toMatchObject({ valid: true });
  });
});
