import { describe, expect, it } from "vitest";
import { createRecordOutcome } from "./outcome";
import type { AuthorizedCall } from "./types";

const call: AuthorizedCall = {
  org_id: "org-1",
  interaction_id: "int-1",
  uapk_id: "bot",
  at: new Date("2026-01-01T00:00:00Z"),
  slots: [{ scope: "hour:org-1:bot:bot", window: 1, limit: 3 }],
  meta: {},
};

function recorder() {
  const refunded: unknown[] = [];
  const record = createRecordOutcome({
    audit: { recordDecision: async () => {}, recordOutcome: async () => {} },
    reservations: {
      reserve: async () => ({ ok: true }),
      refund: async (_org: string, slots: unknown) => void refunded.push(slots),
    },
    counterparties: { remember: () => {} },
  } as unknown as Parameters<typeof createRecordOutcome>[0]);
  return { record, refunded };
}

describe("recordOutcome: which failed calls give their budget unit back", () => {
  it("only a call the gateway states never reached its tool, whatever error code the result carries", async () => {
    const { record, refunded } = recorder();
    // An IDE's tool_result (sessions face) is the IDE's word: a 'not sent' code from it refunds nothing.
    await record(call, { success: false, error: "refused", error_code: "HOST_NOT_ALLOWED" });
    await record(call, { success: false, error: "timed out", error_code: "TIMEOUT" }, { nothingSent: false });
    expect(refunded).toEqual([]);
    await record(call, { success: false, error: "refused", error_code: "HOST_NOT_ALLOWED" }, { nothingSent: true });
    expect(refunded).toEqual([call.slots]);
    // A success is never refunded, even if told so.
    await record(call, { success: true }, { nothingSent: true });
    expect(refunded).toHaveLength(1);
  });
});

/** An audit log whose first `failures` outcome writes fail; `committedAnyway`: the failed write still committed. */
function flakyAudit(failures: number, committedAnyway = false) {
  const outcomes: string[] = [];
  let left = failures;
  const audit = {
    recordDecision: async () => {},
    recordOutcome: async (input: { interaction_id: string }) => {
      if (left-- > 0) {
        if (committedAnyway) outcomes.push(input.interaction_id);
        throw new Error("Connection terminated unexpectedly");
      }
      outcomes.push(input.interaction_id);
    },
    outcomeRecorded: async (_org: string, interactionId: string) => outcomes.includes(interactionId),
  };
  const record = createRecordOutcome({
    audit,
    reservations: { reserve: async () => ({ ok: true }), refund: async () => {} },
    counterparties: { remember: () => {} },
  } as unknown as Parameters<typeof createRecordOutcome>[0]);
  return { record, outcomes };
}

describe("recordOutcome: the outcome of a call that ran is not lost with a connection", () => {
  it("a write that failed is tried again, and the outcome is recorded once", async () => {
    const { record, outcomes } = flakyAudit(2);
    await record(call, { success: true });
    expect(outcomes).toEqual(["int-1"]);
  });

  it("a write that failed but had committed is not written twice", async () => {
    const { record, outcomes } = flakyAudit(1, true);
    await record(call, { success: true });
    expect(outcomes).toEqual(["int-1"]);
  });

  it("a log that keeps failing is reported to the caller after the last attempt", async () => {
    const { record, outcomes } = flakyAudit(99);
    await expect(record(call, { success: true })).rejects.toThrow("Connection terminated");
    expect(outcomes).toEqual([]);
  }, 10_000);
});
