// An IDE that closes its socket with 1000 of its own accord ends its session, as documented ("ends the stream…
// nothing is left to resume"): the session is no longer listed, its pending approvals are cancelled (no operator
// can approve a call whose turn is gone), its runtime link is closed, and a resume hears SESSION_EXPIRED — on one
// node, and on two nodes sharing Redis when the link is held by the node the IDE left. Before, only the replay
// buffer was freed: the session stayed listed with awaiting_approval 1 until the TTL, its approval pending.
import { describe, expect, it } from "vitest";
import { redisSessionsFixture } from "./redis-fixture";
import { openIde, startGateway, type TestGateway } from "./test-support";
import type { ToolApprovals } from "./tool-policy";

const fixture = redisSessionsFixture("ide-end");
const ORG = "acme";

/** Approvals that stay pending until the session gives them up (`cancelled` lists those it cancelled). */
function pendingApprovals() {
  const cancelled: string[] = [];
  const approvals: ToolApprovals = {
    settled: (_ctx, _id, signal) =>
      new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    decide: async () => undefined,
    edit: () => Promise.reject(new Error("not in this test")),
    cancel: async (_ctx, approvalId) => {
      cancelled.push(approvalId);
    },
  };
  return { approvals, cancelled };
}

async function gateway(shared: boolean, approvals: ToolApprovals): Promise<TestGateway> {
  const g = await startGateway(fixture.idp, {
    tokenDelayMs: 2,
    toolPolicy: async () => ({ decision: "ESCALATE", approvalId: "apr_end", reasons: ["REQUIRES_APPROVAL"] }),
    approvals,
    ...(shared ? { redis: fixture.redis, options: { redisKeyPrefix: fixture.prefix } } : {}),
  });
  fixture.running.push(g);
  return g;
}

async function ide(g: TestGateway, id: string, token: string, headers: Record<string, string> = {}) {
  const c = await openIde(`${g.wsBase}/ws/${id}`, { token, headers });
  fixture.clients.push(c);
  return c;
}

/** A turn whose tool call waits for its approval. */
async function awaitingApproval(g: TestGateway, id: string, token: string) {
  const c = await ide(g, id, token);
  c.send({ type: "user_message", content: "файл a.txt" });
  expect(await c.next((f) => f.type === "tool_call")).toMatchObject({ approval_id: "apr_end" });
  return c;
}

const listed = async (g: TestGateway, id: string) => (await g.gateway.list(ORG)).filter((s) => s.session_id === id);

describe("close 1000 from the IDE ends the session", () => {
  it("on one node: not listed, its approval cancelled, its runtime link closed, no resume", async () => {
    const { approvals, cancelled } = pendingApprovals();
    const g = await gateway(false, approvals);
    const token = await fixture.idp.mint({ sub: "alice", org: ORG });
    const c = await awaitingApproval(g, "end-one", token);
    expect(await listed(g, "end-one")).toMatchObject([{ awaiting_approval: 1 }]);
    const lastSeq = c.frames.filter((f) => f.seq !== undefined).at(-1)!.seq!;
    c.ws.close(1000, "done");
    await c.closed;

    await expect.poll(() => listed(g, "end-one")).toEqual([]);
    expect(cancelled).toEqual(["apr_end"]);
    await expect.poll(() => g.runtime!.connections()).toBe(0);
    const back = await ide(g, "end-one", token, { "x-gatehouse-last-seq": String(lastSeq) });
    expect(await back.next((f) => f.type === "error")).toMatchObject({ error_code: "SESSION_EXPIRED" });
    expect(back.frames.some((f) => f.seq !== undefined && f.seq <= lastSeq)).toBe(false);
  });

  it("on two nodes: the node holding the link closes it and cancels the approval when the IDE ends on the other", async () => {
    const onA = pendingApprovals();
    const onB = pendingApprovals();
    const a = await gateway(true, onA.approvals);
    const b = await gateway(true, onB.approvals);
    const id = `end-two-${Date.now()}`;
    const token = await fixture.idp.mint({ sub: "bob", org: ORG });
    const first = await awaitingApproval(a, id, token);
    const lastSeq = first.frames.filter((f) => f.seq !== undefined).at(-1)!.seq!;
    first.ws.terminate(); // dropped: the session and its turn stay on A
    await first.closed;
    const second = await ide(b, id, token, { "x-gatehouse-last-seq": String(lastSeq) });
    await second.next((f) => f.type === "session_resumed");
    second.ws.close(1000, "done");
    await second.closed;

    await expect.poll(() => listed(a, id), { timeout: 3000 }).toEqual([]);
    expect(await listed(b, id)).toEqual([]);
    expect(onA.cancelled).toEqual(["apr_end"]);
    await expect.poll(() => a.runtime!.connections(), { timeout: 3000 }).toBe(0);
    // Nothing of it is left to resume, on either node.
    const back = await ide(a, id, token, { "x-gatehouse-last-seq": String(lastSeq) });
    expect(await back.next((f) => f.type === "error")).toMatchObject({ error_code: "SESSION_EXPIRED" });
  });
});
