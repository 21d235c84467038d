// REST rate limits on one node (memory counters): per API key on every API-key operation, per agent on the
// governed operations; 429 problem+json with Retry-After and the IETF RateLimit headers.
import { afterEach, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../test-support/gatehouse";
import { agent, executeBody } from "../faces/actions/e2e/helpers";
import { restRateLimitConfigFromEnv } from "./rate-limit";

const running: TestGatehouse[] = [];
afterEach(async () => {
  for (const g of running.splice(0)) await g.dispose();
});
async function gatehouse(env: Record<string, string>) {
  const g = await startTestGatehouse({ env });
  running.push(g);
  return g;
}
/** A batch of `n` actions of one agent, under no manifest (the limits are judged before the policy). */
const batch = (n: number) => ({
  uapk_id: "no-such-manifest",
  agent_id: "bot-batch",
  actions: Array.from({ length: n }, (_, i) => ({ action_id: `a${i}`, type: "email", tool: "send", params: {} })),
});
const evaluate = (agentId: string) =>
  executeBody("no-such-manifest", { type: "email", tool: "send", params: {} }, { agent_id: agentId });

describe("REST rate limits", () => {
  it("the request over the API key's quota gets 429 problem+json naming the policy, with Retry-After", async () => {
    const g = await gatehouse({ GATEHOUSE_RATE_LIMIT_PER_API_KEY: "3", GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS: "60" });
    for (let i = 0; i < 3; i++) expect((await agent(g).get("/purutos")).status).toBe(200);
    const refused = await agent(g).get("/purutos");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(refused.body).toMatchObject({ code: "RATE_LIMIT_EXCEEDED", status: 429 });
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get("ratelimit-policy")).toBe('"api-key";q=3;w=60');
    expect(refused.headers.get("ratelimit")).toBe(`"api-key";r=0;t=${retryAfter}`);
    // Open operations (no API key) are not counted.
    expect((await fetch(`${g.url}/health`)).status).toBe(200);
  });

  it("each agent has its own quota on the governed operations", async () => {
    const g = await gatehouse({ GATEHOUSE_RATE_LIMIT_PER_AGENT: "2" });
    for (let i = 0; i < 2; i++)
      expect((await agent(g).post("/api/v1/gateway/evaluate", evaluate("bot-1"))).status).toBe(200);
    const refused = await agent(g).post("/api/v1/gateway/evaluate", evaluate("bot-1"));
    expect(refused.status).toBe(429);
    expect(refused.headers.get("ratelimit-policy")).toBe('"agent";q=2;w=60');
    expect((await agent(g).post("/api/v1/gateway/evaluate", evaluate("bot-2"))).status).toBe(200);
  });

  it("the per-agent limit counts a batch's actions: a batch cannot carry more actions than the quota", async () => {
    const g = await gatehouse({ GATEHOUSE_RATE_LIMIT_PER_AGENT: "5" });
    expect((await agent(g).post("/api/v1/gateway/batch", batch(4))).status).toBe(200);
    const refused = await agent(g).post("/api/v1/gateway/batch", batch(2));
    expect(refused.status).toBe(429);
    expect(refused.body.detail).toContain("5 actions per 60 s per agent");
  });

  it("a refused request takes nothing: an agent at its own limit does not drain its API key's", async () => {
    const g = await gatehouse({ GATEHOUSE_RATE_LIMIT_PER_API_KEY: "20", GATEHOUSE_RATE_LIMIT_PER_AGENT: "8" });
    const statuses = async (agents: string[]) => {
      const out: number[] = [];
      for (const id of agents) out.push((await agent(g).post("/api/v1/gateway/evaluate", evaluate(id))).status);
      return out;
    };
    const busy = await statuses(Array.from({ length: 16 }, () => "bot-busy"));
    expect(busy.filter((s) => s === 200)).toHaveLength(8);
    // The key has had 8 requests, not 16: 12 more from other agents fit its 20, and the 13th does not.
    const others = await statuses(Array.from({ length: 13 }, (_, i) => `bot-${i}`));
    expect(others.slice(0, 12)).toEqual(Array(12).fill(200));
    expect(others[12]).toBe(429);
  });

  it("a batch refused for its size leaves the room it did not take", async () => {
    const g = await gatehouse({ GATEHOUSE_RATE_LIMIT_PER_AGENT: "5" });
    expect((await agent(g).post("/api/v1/gateway/batch", batch(4))).status).toBe(200);
    expect((await agent(g).post("/api/v1/gateway/batch", batch(2))).status).toBe(429);
    expect((await agent(g).post("/api/v1/gateway/batch", batch(1))).status).toBe(200);
    expect((await agent(g).post("/api/v1/gateway/batch", batch(1))).status).toBe(429);
  });

  it("another org's agent never spends this agent's quota, whatever ':' its ids hold", async () => {
    const g = await gatehouse({ GATEHOUSE_RATE_LIMIT_PER_AGENT: "2" });
    // Org `<org>:eu`'s agent `bot`, and the default org's agent `eu:bot`: one `org:agent` text, two agents.
    const victimKey = (await g.apiKeys.create(`${g.orgId}:eu`, "the victim org's agent")).key;
    for (let i = 0; i < 3; i++) await agent(g).post("/api/v1/gateway/evaluate", evaluate("eu:bot"));
    const victim = await fetch(`${g.url}/api/v1/gateway/evaluate`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": victimKey },
      body: JSON.stringify(evaluate("bot")),
    });
    expect(victim.status).toBe(200);
  });

  it("0 turns a limit off; a bad value names its variable", () => {
    expect(restRateLimitConfigFromEnv({ GATEHOUSE_RATE_LIMIT_PER_API_KEY: "0" }).perApiKey).toBe(0);
    expect(() => restRateLimitConfigFromEnv({ GATEHOUSE_RATE_LIMIT_PER_AGENT: "ten" })).toThrow(
      /GATEHOUSE_RATE_LIMIT_PER_AGENT/,
    );
    expect(() => restRateLimitConfigFromEnv({ GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS: "0" })).toThrow(/WINDOW/);
  });
});
