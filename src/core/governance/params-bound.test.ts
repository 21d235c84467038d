// The engine's bound on what an action's params hold (./params-size.ts), on every door of the embedded engine:
// evaluate, authorize, execute (with an idempotency key) and batch refuse before anything is decided, reserved,
// claimed or audited, and whatever face called them gets the same ParamsTooLargeError to answer.
import { describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { createIdempotencyStore } from "../idempotency";
import { emailRequest, ORG, supportBot } from "../policy/test-fixtures";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";
import { MAX_PARAMS_VALUES, ParamsTooLargeError } from "./params-size";

const valuesOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
const withParams = (params: Record<string, unknown>, idempotencyKey?: string) => ({
  ...emailRequest({ action: { type: "email", tool: "send", params } }),
  ...(idempotencyKey ? { idempotency_key: idempotencyKey } : {}),
});

async function wired() {
  const db = await openMigratedDatabase(":memory:");
  const audit = createAuditLog(db);
  const engine = createGovernanceEngine({
    db,
    approvals: createApprovalStore(db),
    idempotency: createIdempotencyStore(db),
    audit,
  });
  engine.manifests.register(ORG, supportBot({ constraints: { max_actions_per_hour: 100 } }));
  return { engine, audit };
}

describe("the engine's bound on params values", () => {
  it("every door refuses params over the bound before anything is decided or recorded", async () => {
    const { engine, audit } = await wired();
    const over = withParams(valuesOf(MAX_PARAMS_VALUES + 1), "key-big");
    const refusals = [
      engine.evaluate(ORG, over),
      engine.authorize(ORG, over),
      engine.execute(ORG, over),
      engine.batch(ORG, {
        uapk_id: over.uapk_id,
        agent_id: over.agent_id,
        actions: [{ action_id: "a1", ...over.action }],
        stop_on_deny: false,
      }),
    ];
    for (const refusal of refusals) await expect(refusal).rejects.toBeInstanceOf(ParamsTooLargeError);
    await expect(engine.execute(ORG, over)).rejects.toMatchObject({
      code: "PARAMS_TOO_LARGE",
      pointer: "/action/params",
      message: expect.stringContaining("more than 10,000 values"),
    });
    expect(audit.list(ORG, {}).records).toEqual([]);
    // The key was never claimed: the same key with params within the bound runs.
    const within = await engine.execute(ORG, withParams({ to: "a@example.com" }, "key-big"));
    // And no budget unit was taken by the refused calls: this one is the first.
    expect(within).toMatchObject({ decision: "ALLOW", executed: true, risk_snapshot: { budget_current: 1 } });
  });

  it("params at the bound are judged; a batch's actions count together", async () => {
    const { engine } = await wired();
    expect(await engine.evaluate(ORG, withParams(valuesOf(MAX_PARAMS_VALUES)))).toMatchObject({ decision: "ALLOW" });
    const half = valuesOf(MAX_PARAMS_VALUES / 2 + 1);
    const batch = engine.batch(ORG, {
      uapk_id: "customer-support-bot",
      agent_id: "customer-support-bot",
      actions: [
        { action_id: "a1", type: "email", tool: "send", params: half },
        { action_id: "a2", type: "email", tool: "send", params: half },
      ],
      stop_on_deny: false,
    });
    await expect(batch).rejects.toMatchObject({ code: "PARAMS_TOO_LARGE", pointer: "/actions" });
  });
});
