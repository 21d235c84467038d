// The risk an operator weighs on an approval (console, webhooks, Slack) names the amount the policy judged, not only
// the one the agent declared: an action that escalates for an amount its params carry (no `action.amount`) must not
// reach an operator as an approval without an amount.
import { describe, expect, it } from "vitest";
import { createApprovalStore } from "../approvals";
import { createAuditLog } from "../audit/audit-log";
import { emailRequest, ORG, supportBot } from "../policy/test-fixtures";
import { openMigratedDatabase } from "../store/test-support";
import { createGovernanceEngine } from "./engine";

async function wired() {
  const db = await openMigratedDatabase(":memory:");
  const approvals = createApprovalStore(db, { expirySweepMs: 0 });
  const service = createGovernanceEngine({ db, approvals, audit: createAuditLog(db) });
  service.manifests.register(
    ORG,
    supportBot({
      capabilities: ["payment:wire"],
      constraints: {},
      policy: { amount_threshold: { amount: 100, currency: "USD" } },
      tools: { "payment:wire": { connector: { type: "noop" } } },
    }),
  );
  return { service, approvals };
}

const wire = (params: Record<string, unknown>, declared: { amount?: number; currency?: string } = {}) =>
  emailRequest({ action: { type: "payment", tool: "wire", params, ...declared } });

describe("the risk of an approval", () => {
  it("names the amount the policy judged when only the params carry it", async () => {
    const { service, approvals } = await wired();
    const escalated = await service.execute(ORG, wire({ iban: "DE00", total_amount: 5000, currency: "usd" }));
    expect(escalated.decision).toBe("ESCALATE");
    expect(approvals.get(ORG, escalated.approval_id!)?.risk).toMatchObject({ amount: 5000, currency: "USD" });
  });

  it("names the total judged, declared or not", async () => {
    const { service, approvals } = await wired();
    const escalated = await service.execute(
      ORG,
      wire({ iban: "DE00", amount: 500, amounts: [500, 700], currency: "USD" }, { amount: 500, currency: "USD" }),
    );
    expect(escalated.decision).toBe("DENY"); // a declared amount that differs from one sent is unverifiable
    const both = await service.execute(ORG, wire({ iban: "DE00", amounts: [500, 700], currency: "USD" }));
    expect(approvals.get(ORG, both.approval_id!)?.risk).toMatchObject({ amount: 1200, currency: "USD" });
  });

  it("names every recipient, one with an invisible or bidi character escaped rather than left out (R7)", async () => {
    const { service, approvals } = await wired();
    const escalated = await service.execute(
      ORG,
      wire({
        to: ["alice@corp.example", "mallory\u200b@attacker.example", "(x) \u202emoc.live@bob"],
        amount: 500,
        currency: "USD",
      }),
    );
    expect(escalated.decision).toBe("ESCALATE");
    const risk = approvals.get(ORG, escalated.approval_id!)?.risk;
    expect(risk?.recipients).toEqual([
      "alice@corp.example",
      "x \\u{202e}moc.live@bob",
      "mallory\\u{200b}@attacker.example (refused: contains invisible formatting characters)",
      "(x) \\u{202e}moc.live@bob (refused: contains invisible formatting characters)",
    ]);
    expect(JSON.stringify(risk)).not.toMatch(/[\u200b\u202e]/u);
  });

  it("marks a look-alike the policy refuses, so it is not read as the address it imitates", async () => {
    const { service, approvals } = await wired();
    const lookAlike = "alice@\u0430cme.example"; // Cyrillic а
    const escalated = await service.execute(ORG, wire({ to: lookAlike, amount: 500, currency: "USD" }));
    expect(escalated.decision).toBe("ESCALATE");
    const risk = approvals.get(ORG, escalated.approval_id!)?.risk;
    expect(risk?.recipients).toEqual([
      `${lookAlike} (refused: mixes scripts (Cyrillic, Latin), a look-alike of another value)`,
    ]);
  });
});
