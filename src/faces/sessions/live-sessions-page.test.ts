// The console's list of live sessions pages the org's sessions, and each one listed carries its agent as shared
// across nodes: a read of the shared store (an HGET in Redis) per session. It read every live session of the org
// for each page (500 sessions, 500 reads for a page of 5); the gateway now hands the page's caller the sessions
// without their agent, and reads the agent of those the caller keeps only.
import { describe, expect, it } from "vitest";
import type { LiveSessionSummary } from "./options";
import { createMemorySessionStore } from "./session-store";
import { sessionsFixture } from "./sessions-fixture";

const fixture = sessionsFixture();
const SESSIONS = 24;

/** A store whose shared agent is "agent-<id>", counting its reads (as the Redis store's HGET). */
function countingStore() {
  const reads: string[] = [];
  const store = Object.assign(createMemorySessionStore({ maxAgeMs: 60_000, maxFrames: 100, trimIntervalMs: 0 }), {
    sharedAgent: async (id: string) => {
      reads.push(id);
      return `agent-${id.slice(-8)}`;
    },
  });
  return { store, reads };
}

describe("live sessions, a page at a time", () => {
  it("reads the shared agent of the page's sessions only, and the page is the one picked, in order", async () => {
    const { store, reads } = countingStore();
    const g = await fixture.gateway({ store, withRuntime: false, options: { maxSessionsPerUser: SESSIONS } });
    const token = await fixture.idp.mint({ sub: "alice", org: "acme" });
    for (let i = 0; i < SESSIONS; i++) await fixture.ide(g, `s-${String(i).padStart(2, "0")}`, { token });

    reads.length = 0;
    let offered: LiveSessionSummary[] = [];
    const page = await g.gateway.list("acme", (all) => {
      offered = all;
      return all.slice(5, 10);
    });
    expect(reads).toHaveLength(5);
    expect(offered).toHaveLength(SESSIONS);
    for (const s of offered) expect(s).not.toHaveProperty("agent");
    expect(page.map((s) => s.session_id)).toEqual(offered.slice(5, 10).map((s) => s.session_id));
    for (const s of page) expect(s.agent).toMatch(/^agent-/);

    // Without a pick, every session with its agent, newest first.
    reads.length = 0;
    const all = await g.gateway.list("acme");
    expect(reads).toHaveLength(SESSIONS);
    expect(all.map((s) => s.session_id)).toEqual(offered.map((s) => s.session_id));
    const created = all.map((s) => s.created_at);
    expect(created).toEqual([...created].sort().reverse());
  });
});
