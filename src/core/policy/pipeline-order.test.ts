import { describe, expect, it } from "vitest";
import { POLICY_CHECKS } from "./checks";
import { budgetCheck } from "./checks/budget";
import { manifestCheck } from "./checks/manifest";
import { decide } from "./pipeline";
import { emailRequest, engine, ORG, supportBot } from "./test-fixtures";

describe("policy check declarations", () => {
  it("the fixed order provides every fact a check needs before that check runs", () => {
    const provided = new Set<string>();
    for (const check of POLICY_CHECKS) {
      for (const need of check.needs) expect(provided, `${check.name} needs ${need}`).toContain(need);
      for (const fact of check.provides) provided.add(fact);
    }
  });

  it("a check whose needs no earlier check provided is refused, never run on a guess", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot());
    await expect(decide(ORG, emailRequest(), e.deps, { checks: [budgetCheck] })).rejects.toThrow(
      "Policy check 'budget_check' needs 'manifest', which no earlier check provided",
    );
    const ok = await decide(ORG, emailRequest(), e.deps, { checks: [manifestCheck, budgetCheck] });
    expect(ok.decision).toBe("ALLOW");
    expect(ok.policy_trace.checks.map((c) => c.check)).toEqual(["manifest_validation", "budget_check"]);
  });
});
