// boundedRisk reads a picture stored as JSON by any earlier version: whatever keys it holds come back as data.
import { describe, expect, it } from "vitest";
import { boundedRisk, MAX_RISK_RECIPIENTS, type StoredApprovalRisk } from "./risk";

describe("boundedRisk", () => {
  it("keeps the first recipients and counts them all", () => {
    const recipients = Array.from({ length: MAX_RISK_RECIPIENTS + 5 }, (_, i) => `r${i}@example.com`);
    const bounded = boundedRisk({ recipients } as StoredApprovalRisk);
    expect(bounded.recipients).toHaveLength(MAX_RISK_RECIPIENTS);
    expect(bounded.recipients_total).toBe(MAX_RISK_RECIPIENTS + 5);
    expect(bounded.recipients_truncated).toBe(true);
    expect(boundedRisk(bounded)).toEqual(bounded); // bounding twice keeps the first count
  });

  it("keeps a stored `__proto__` key as data, never as the picture's prototype", () => {
    const stored = JSON.parse('{"recipients":["a@example.com"],"__proto__":{"polluted":true}}');
    const bounded = boundedRisk(stored);
    expect(Object.getPrototypeOf(bounded)).toBe(Object.prototype);
    expect((bounded as Record<string, unknown>).polluted).toBeUndefined();
    expect(bounded.recipients_total).toBe(1);
  });
});
