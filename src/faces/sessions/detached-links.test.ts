// A detached session (its IDE gone, resumable for the session TTL) keeps its runtime link, and the live-session
// cap counts open sockets only: connecting and dropping must not let one user pile up runtime links. A node holds
// at most GATEHOUSE_WS_MAX_SESSIONS_PER_USER runtime links per user; past it, the link of the user's session that
// has been detached longest is closed (the session stays resumable and hears why).
import { describe, expect, it } from "vitest";
import { sessionsFixture } from "./sessions-fixture";
import { isFinal, type TestGateway } from "./test-support";

const fx = sessionsFixture();

async function connect(g: TestGateway, id: string, token: string, headers: Record<string, string> = {}) {
  return fx.ide(g, id, { token, headers });
}

/** A session with one finished turn (its runtime link open), its socket then dropped. */
async function dropAfterTurn(g: TestGateway, id: string, token: string) {
  const c = await connect(g, id, token);
  c.send({ type: "user_message", content: "hi" });
  await c.next(isFinal);
  c.ws.terminate();
  await c.closed;
  return c;
}

describe("runtime links of detached sessions are bounded per user", () => {
  it("connect-and-drop never holds more than the cap's links for one user; the oldest detached one is closed", async () => {
    const g = await fx.gateway({ tokenDelayMs: 1, options: { maxSessionsPerUser: 2 } });
    const alice = await fx.idp.mint({ sub: "alice" });
    const bob = await fx.idp.mint({ sub: "bob" });
    await dropAfterTurn(g, "bob-1", bob);
    const first = await dropAfterTurn(g, "a-1", alice);
    await dropAfterTurn(g, "a-2", alice);
    await dropAfterTurn(g, "a-3", alice);
    await dropAfterTurn(g, "a-4", alice);
    // Alice's two most recent sessions keep their links, plus bob's: another user's links are never touched.
    await expect.poll(() => g.runtime!.connections(), { timeout: 3000 }).toBe(3);

    // a-1 (detached longest) lost its link: its resume says so, and its next message opens a link again.
    const back = await connect(g, "a-1", alice, { "x-gatehouse-last-seq": String(first.frames.at(-1)!.seq) });
    const notice = await back.next((f) => f.type === "error");
    expect(notice).toMatchObject({ error_code: "AGENT_UNAVAILABLE", details: { reason: "TOO_MANY_SESSIONS" } });
    expect(notice.seq).toEqual(expect.any(Number));
    back.send({ type: "user_message", content: "again" });
    await back.next(isFinal);
    // …which closes the link of the session detached longest now (a-2): still two of alice's, one of bob's.
    await expect.poll(() => g.runtime!.connections(), { timeout: 3000 }).toBe(3);
  });
});
