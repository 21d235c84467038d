// IDE sessions across two nodes on PostgreSQL + Redis (no sticky routing): an IDE that drops from node A in the
// middle of a turn resumes on node B and gets every frame — the ones it missed, replayed, and the ones the turn
// still produces on A, relayed through the Redis frames stream — in one gap-free sequence. And the WebSocket
// upgrade limit per client (10 per minute) is one budget across both nodes.
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentRuntime, startAgentRuntime } from "../../examples/agent-runtime/server";
import { shouldRunRedisTests } from "../../src/core/events/redis-availability";
import { postgresForTests } from "../../src/core/store/test-support";
import { type IdeClient, openIde, isFinal, tokensOf } from "../../src/faces/sessions/test-support";
import { ORG_ID } from "../fixtures";
import { clientSessionId } from "../../src/faces/sessions/session-key";
import { openSharedPostgresStore, startTwoNodes, type TwoNodes } from "./nodes";

const pgAdmin = await postgresForTests("IDE sessions across two nodes on PostgreSQL");
const runRedis = await shouldRunRedisTests("IDE sessions across two nodes on PostgreSQL");
/** The reference runtime's turn is 120 words; at this pace it streams for about 3 s. */
const TOKEN_DELAY_MS = 25;

const wsUrl = (node: TwoNodes["a"], sessionId: string) => `${node.url.replace("http", "ws")}/ws/${sessionId}`;

/** 101 when the upgrade was accepted (then closed at once), else the refusal's status. */
function upgrade(url: string, token: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    ws.once("open", () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      const retryAfter = res.headers["retry-after"];
      resolve({ status: res.statusCode ?? 0, ...(typeof retryAfter === "string" ? { retryAfter } : {}) });
    });
    ws.once("error", (err) => reject(err));
  });
}

describe.runIf(pgAdmin && runRedis)("IDE sessions across two nodes on PostgreSQL + Redis", () => {
  let runtime: AgentRuntime;
  let nodes: TwoNodes;
  const clients: IdeClient[] = [];

  beforeAll(async () => {
    runtime = await startAgentRuntime({ port: 0, tokenDelayMs: TOKEN_DELAY_MS });
    const store = await openSharedPostgresStore(pgAdmin!);
    nodes = await startTwoNodes({ AGENT_RUNTIME_URL: runtime.url }, store);
    expect([nodes.a.store, nodes.b.store]).toEqual(["postgres", "postgres"]);
  });
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await nodes?.dispose();
    await runtime?.close();
  });

  it("an IDE dropped from node A mid-turn resumes on node B: every frame, no gap, the turn still streaming", async () => {
    const sessionId = `cross-node-${randomUUID()}`;
    // Minted by node A's issuer; node B accepts it (the issuer key is in the shared store).
    const token = await nodes.a.userTokenFor(ORG_ID, "dev@acme.example", ["developer"]);
    const first = await openIde(wsUrl(nodes.a, sessionId), { token });
    clients.push(first);
    first.send({ type: "user_message", content: "something long please" });
    await first.next((f) => f.type === "assistant_message" && String(f.token).startsWith("слово5"));
    const seen = [...first.frames];
    first.ws.terminate(); // the IDE drops; the turn goes on on node A
    const lastSeq = seen.at(-1)!.seq!;

    const second = await openIde(wsUrl(nodes.b, sessionId), {
      token,
      headers: { "x-gatehouse-last-seq": String(lastSeq) },
    });
    clients.push(second);
    const resumed = await second.next((f) => f.type === "session_resumed");
    await second.next(isFinal, 15_000);
    const replayed = second.frames.slice(0, second.frames.indexOf(resumed));
    const live = second.frames.slice(second.frames.indexOf(resumed) + 1);
    // The turn was still running when the IDE came back: frames reached B live after the resume notice.
    expect(live.filter((f) => f.type === "assistant_message").length).toBeGreaterThan(10);

    const all = [...seen, ...replayed, ...live];
    expect(all.map((f) => f.seq)).toEqual(all.map((_, i) => i + 1));
    expect(tokensOf(all)).toMatch(/^Вы написали: something long please\. слово1 (слово\d+ ){118}слово120$/);
    expect(all.filter(isFinal)).toHaveLength(1);
    // Node B ran no turn of its own: only node A's runtime connection heard the message.
    const messages = runtime.received.filter(
      (r) => clientSessionId(r.sessionId) === sessionId && r.frame.type === "user_message",
    );
    expect(messages).toHaveLength(1);
  });

  it("the 11th WebSocket connection per client per minute across both nodes is refused with 429", async () => {
    const token = await nodes.b.userTokenFor(ORG_ID, "ide-limit@acme.example", ["developer"]);
    const statuses = [];
    for (let i = 0; i < 10; i++)
      statuses.push((await upgrade(wsUrl(i % 2 === 0 ? nodes.a : nodes.b, `pg-limit-${i}`), token)).status);
    expect(statuses).toEqual(Array(10).fill(101));
    const eleventh = await upgrade(wsUrl(nodes.a, "pg-limit-10"), token);
    expect(eleventh.status).toBe(429);
    expect(Number(eleventh.retryAfter)).toBeGreaterThan(0);
    expect((await upgrade(wsUrl(nodes.b, "pg-limit-11"), token)).status).toBe(429);
  });
});
