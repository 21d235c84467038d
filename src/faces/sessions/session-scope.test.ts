// Sessions are per user: two users who both open /ws/my-session (the README's example) get two sessions that
// never meet — no 403 that would tell one the id is taken, no shared seq, no replay of the other's frames, no
// 4409 closing the other's socket. On one node and on two nodes sharing Redis.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { redisSessionsFixture } from "./redis-fixture";
import { clientSessionId, sessionKey } from "./session-key";
import { type IdeClient, ISSUER, isFinal, openIde, startGateway, type TestGateway, tokensOf } from "./test-support";

const fixture = redisSessionsFixture("scope");
const { prefix, running, clients } = fixture;

async function gatewayWith(overrides: NonNullable<Parameters<typeof startGateway>[1]> = {}) {
  const g = await startGateway(fixture.idp, { tokenDelayMs: 1, ...overrides });
  running.push(g);
  return g;
}

async function connect(g: TestGateway, id: string, token: string, headers: Record<string, string> = {}) {
  const c = await openIde(`${g.wsBase}/ws/${id}`, { token, headers });
  clients.push(c);
  return c;
}

/** One turn of `text` on `c`; its frames. */
async function turn(c: IdeClient, text: string) {
  c.send({ type: "user_message", content: text });
  await c.next((f) => isFinal(f) && tokensOf(c.frames).includes(text));
  return [...c.frames];
}

const seqs = (frames: { seq?: number }[]) => frames.map((f) => f.seq).filter((s) => s !== undefined);

describe("two users, one session id, one node", () => {
  it("each gets their own session: both accepted, own seq from 1, own runtime session, no 4409 between them", async () => {
    const g = await gatewayWith();
    const alice = await connect(g, "my-session", await fixture.idp.mint({ sub: "alice", org: "acme" }));
    const bob = await connect(g, "my-session", await fixture.idp.mint({ sub: "bob", org: "acme" }));
    // The same sub in another org is someone else as well.
    const otherAlice = await connect(g, "my-session", await fixture.idp.mint({ sub: "alice", org: "evil" }));
    const aliceFrames = await turn(alice, "from alice");
    const bobFrames = await turn(bob, "from bob");
    await turn(otherAlice, "from evil alice");

    expect(seqs(aliceFrames)[0]).toBe(1);
    expect(seqs(bobFrames)[0]).toBe(1);
    expect(tokensOf(aliceFrames)).not.toContain("bob");
    expect(tokensOf(bobFrames)).not.toContain("alice");
    for (const c of [alice, bob, otherAlice]) expect(c.ws.readyState).toBe(c.ws.OPEN);
    const runtimeSessions = new Set(g.runtime!.received.map((r) => r.sessionId));
    expect(runtimeSessions.size).toBe(3);
    expect((await g.gateway.list("acme")).map((s) => [s.session_id, s.user])).toEqual(
      expect.arrayContaining([
        ["my-session", "alice"],
        ["my-session", "bob"],
      ]),
    );
  });

  it("alice's resume replays only her frames, while bob is attached to the same id", async () => {
    const g = await gatewayWith();
    const aliceToken = await fixture.idp.mint({ sub: "alice", org: "acme" });
    const alice = await connect(g, "shared", aliceToken);
    const bob = await connect(g, "shared", await fixture.idp.mint({ sub: "bob", org: "acme" }));
    const aliceFrames = await turn(alice, "from alice");
    alice.ws.terminate();
    await turn(bob, "from bob");

    const back = await connect(g, "shared", aliceToken, { "x-gatehouse-last-seq": "1" });
    const resumed = await back.next((f) => f.type === "session_resumed");
    const replayed = back.frames.slice(0, back.frames.indexOf(resumed));
    expect(resumed).toMatchObject({ session_id: "shared", replayed: aliceFrames.length - 1 });
    expect(replayed).toEqual(aliceFrames.slice(1));
    expect(bob.ws.readyState).toBe(bob.ws.OPEN);
  });
});

describe("two users, one session id, two nodes on Redis", () => {
  it("separate sessions across nodes: A's resume on B never sees B's frames, and no socket replaces the other's", async () => {
    const shared = { redis: fixture.redis, options: { redisKeyPrefix: prefix } };
    const a = await gatewayWith(shared);
    const b = await gatewayWith(shared);
    const id = `same-${randomUUID()}`;
    const aliceToken = await fixture.idp.mint({ sub: "alice", org: "acme" });
    const bobToken = await fixture.idp.mint({ sub: "bob", org: "acme" });
    const alice = await connect(a, id, aliceToken);
    const bob = await connect(b, id, bobToken);
    const aliceFrames = await turn(alice, "from alice");
    const bobFrames = await turn(bob, "from bob");
    expect(seqs(aliceFrames)[0]).toBe(1);
    expect(seqs(bobFrames)[0]).toBe(1);

    alice.ws.terminate();
    const back = await connect(b, id, aliceToken, { "x-gatehouse-last-seq": "1" });
    const resumed = await back.next((f) => f.type === "session_resumed");
    expect(back.frames.slice(0, back.frames.indexOf(resumed))).toEqual(aliceFrames.slice(1));
    expect(tokensOf(back.frames)).not.toContain("bob");
    // Alice's socket on B does not replace bob's there (nor would one on A: the attach is per key).
    await new Promise((r) => setTimeout(r, 200));
    expect(bob.ws.readyState).toBe(bob.ws.OPEN);

    // And bob, resuming on A, sees only his.
    bob.ws.terminate();
    const bobBack = await connect(a, id, bobToken, { "x-gatehouse-last-seq": "1" });
    await bobBack.next((f) => f.type === "session_resumed");
    expect(tokensOf(bobBack.frames)).not.toContain("alice");
    expect(bobBack.frames.filter((f) => f.seq !== undefined)).toEqual(bobFrames.slice(1));
  });
});

describe("session keys", () => {
  it("one key per (issuer, org, sub, id): separators inside the parts cannot make two owners' keys equal", () => {
    const owners = [
      { issuer: ISSUER, orgId: "a~b", sub: "c" },
      { issuer: ISSUER, orgId: "a", sub: "b~c" },
      { issuer: ISSUER, orgId: 'a","b', sub: "c" },
      { issuer: ISSUER, orgId: "a", sub: '","b","c' },
      { issuer: `${ISSUER}\u0000a`, sub: "c" },
      { issuer: ISSUER, orgId: "a", sub: "c" },
    ];
    const keys = owners.map((o) => sessionKey(o, "my-session"));
    expect(new Set(keys).size).toBe(owners.length);
    for (const key of keys) expect(clientSessionId(key)).toBe("my-session");
    // An absent org is the empty org, as ownership compares them.
    expect(sessionKey({ sub: "c", orgId: "" }, "x")).toBe(sessionKey({ sub: "c" }, "x"));
  });
});
