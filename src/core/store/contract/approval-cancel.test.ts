// A cancelled approval (its agent session was cancelled or abandoned) is a verdict the audit log records, on the
// shared store as on the embedded one (src/faces/sessions/adversarial-approvals.test.ts): the status change and
// its record in one transaction, so no approval is cancelled without its record.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMemoryEventBus } from "../../events/memory-bus";
import type { ApprovalsService } from "../../ports";
import type { AnyKysely } from "../postgres";
import { createSharedApprovalsService, createSharedStores, type SharedStores } from "../shared";
import { postgresBackend, TEST_SECRET } from "./backends";
import { approvalInput, chainOf, ORG } from "./fixtures";

// PostgreSQL only: the shared approvals service is what a cluster runs (the embedded store has its own, tested there).
const backend = await postgresBackend("approval cancellation");

describe.skipIf(!backend)("approval cancellation on the shared store", () => {
  let db: AnyKysely;
  let stores: SharedStores;
  let service: ApprovalsService;
  let close: () => Promise<void>;

  beforeEach(async () => {
    ({ db, close } = await backend!.open());
    stores = createSharedStores(db, { secret: TEST_SECRET });
    service = createSharedApprovalsService({
      db,
      approvals: stores.approvals,
      audit: stores.audit,
      events: createMemoryEventBus(),
    });
  });
  afterEach(async () => {
    service.close?.();
    await close();
  });

  it("records the cancellation in the org's chain, once, and the chain still verifies", async () => {
    const { approval_id } = await service.create({ ...approvalInput(), interaction_id: "int-cancelled" });
    expect(await service.cancel(ORG, approval_id, "session cancelled")).toBe(true);
    expect(await service.cancel(ORG, approval_id, "again")).toBe(false);

    expect((await service.get(ORG, approval_id))?.status).toBe("cancelled");
    const records = (await chainOf(stores.audit, ORG)).filter((r) => r.approval_id === approval_id);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      kind: "approval",
      interaction_id: "int-cancelled",
      decision: "DENY",
      meta: { approval_status: "cancelled", decided_by: "gatehouse" },
    });
    expect(await stores.audit.verify(ORG)).toMatchObject({ valid: true });
  });
});
