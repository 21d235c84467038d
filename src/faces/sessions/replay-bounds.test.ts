// Adversarial (issue 10 §6): the replay buffer is bounded in bytes per session and over every session, and a
// timer frees frames past the replay window even in sessions nobody appends to or resumes any more.
import { describe, expect, it } from "vitest";
import { createMemorySessionStore } from "./session-store";

const owner = { sub: "alice", orgId: "org", issuer: "iss" };
const big = (n: number) => ({ type: "assistant_message", token: "x".repeat(n), is_final: false });
const heldBytes = (store: ReturnType<typeof createMemorySessionStore>, id: string) => {
  const r = store.replay(id, 0, Number.MAX_SAFE_INTEGER);
  return r.ok ? r.frames.reduce((sum, f) => sum + f.data.length, 0) : -1;
};
const oldestSeq = (store: ReturnType<typeof createMemorySessionStore>, id: string) => {
  const r = store.replay(id, 0, Number.MAX_SAFE_INTEGER);
  return r.ok ? r.frames[0]?.seq : r.oldestSeq;
};

describe("replay buffer bounds", () => {
  it("per session: 45 frames of 950 KB keep at most maxBytes, newest first kept", () => {
    const store = createMemorySessionStore({
      maxAgeMs: 60_000,
      maxFrames: 1000,
      maxBytes: 4 * 1024 * 1024,
      trimIntervalMs: 0,
    });
    store.create("s", owner);
    for (let i = 0; i < 45; i++) store.append("s", big(950 * 1024), true);
    expect(oldestSeq(store, "s")).toBeGreaterThan(40);
    // A resume from before the kept frames must resync rather than get a silent gap.
    const resume = store.replay("s", 1, 46);
    expect(resume.ok).toBe(false);
  });

  it("in total: many sessions together never hold more than maxTotalBytes; the biggest buffer gives first", () => {
    const store = createMemorySessionStore({
      maxAgeMs: 60_000,
      maxFrames: 1000,
      maxBytes: 8 * 1024 * 1024,
      maxTotalBytes: 10 * 1024 * 1024,
      trimIntervalMs: 0,
    });
    for (let s = 0; s < 5; s++) store.create(`s${s}`, owner);
    for (let i = 0; i < 20; i++) for (let s = 0; s < 5; s++) store.append(`s${s}`, big(300 * 1024), true);
    store.append("s0", big(10), true);
    let total = 0;
    // Sum what each session still holds (resumable from its oldest frame).
    for (let s = 0; s < 5; s++) {
      const oldest = oldestSeq(store, `s${s}`) ?? 1;
      const r = store.replay(`s${s}`, oldest - 1, Number.MAX_SAFE_INTEGER);
      if (r.ok) total += r.frames.reduce((sum, f) => sum + f.data.length, 0);
    }
    expect(total).toBeLessThanOrEqual(10 * 1024 * 1024);
    expect(total).toBeGreaterThan(8 * 1024 * 1024);
  });

  it("the timer frees an idle session's frames once they are past the window", async () => {
    let clock = 0;
    const store = createMemorySessionStore({ maxAgeMs: 1_000, maxFrames: 1000, trimIntervalMs: 20 }, () => clock);
    store.create("idle", owner);
    for (let i = 0; i < 5; i++) store.append("idle", big(100_000), true);
    expect(heldBytes(store, "idle")).toBeGreaterThan(400_000);
    clock += 2_000;
    await new Promise((r) => setTimeout(r, 100));
    // Nothing was appended or replayed: only the timer can have dropped them.
    const r = store.replay("idle", 0, Number.MAX_SAFE_INTEGER);
    expect(r.ok ? r.frames.length : 0).toBe(0);
  });
});
