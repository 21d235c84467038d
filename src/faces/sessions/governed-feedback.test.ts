// The reject a runtime is sent for an edit the policy refused carries the policy's reasons as its `feedback`, which
// the spec bounds at 2,048 characters (HitlDecision, the runtime's as the IDE's): many reasons must not break it.
import { describe, expect, it } from "vitest";
import type { Authorization } from "../../core/governance";
import { asRelease, MAX_FEEDBACK_CHARS } from "./governed-requests";

const denied = (messages: string[]) =>
  ({
    decision: "DENY",
    reasons: messages.map((message) => ({ code: "COUNTERPARTY_BLOCKED", message })),
  }) as unknown as Authorization;

describe("the feedback of a policy's reject", () => {
  it("is the reasons joined while they fit", () => {
    const release = asRelease(denied(["a is blocked", "b is blocked"]), {});
    expect(release).toMatchObject({ outcome: "rejected", reason: "a is blocked; b is blocked" });
  });

  it("is cut at the spec's 2,048 characters when many reasons join past it, never inside a character", () => {
    // Before, 40 reasons of 200 characters gave the runtime a feedback of 8,078 characters.
    const many = Array.from({ length: 40 }, (_, i) => `recipient ${i} ${"x".repeat(180)} is blocked`);
    const reason = (asRelease(denied(many), {}) as { reason: string }).reason;
    expect(reason.length).toBe(MAX_FEEDBACK_CHARS);
    expect(reason.endsWith("…")).toBe(true);
    const emoji = "😀".repeat(3_000); // surrogate pairs across the cut
    const cut = (asRelease(denied([emoji]), {}) as { reason: string }).reason;
    expect(cut.length).toBeLessThanOrEqual(MAX_FEEDBACK_CHARS);
    expect(cut.isWellFormed()).toBe(true);
  });
});
