// A shadow replay decides up to 10,000 recorded actions in the gateway's process; it must not freeze the gateway
// while it runs. Agents choose what is recorded: here, actions naming 2,000+ recipients each (params small enough to
// be stored whole), replayed under an allowlist. The test shares the gateway's event loop, so a timer of its own
// ticking on schedule during the replay is the gateway answering other requests.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { agent, executeBody, operator, registerManifest } from "../../../test-support/http";

const UAPK = "crowd-bot";
const tools = { "email:send": { connector: { type: "echo" } } };
const manifest = { uapk_id: UAPK, agent: { id: UAPK, name: "Crowd Bot" }, capabilities: ["email:send"], tools };
// Eight members of ~8 KB each: under the audit log's per-value and per-params bounds, so stored and replayed whole.
const params = Object.fromEntries(
  Array.from({ length: 8 }, (_, j) => [
    `m${j}`,
    { to: Array.from({ length: 290 }, (_, i) => `u${i}-${j}@d${i}.ex.io`) },
  ]),
);

let g: TestGatehouse;
let manifestId: string;

beforeAll(async () => {
  g = await startTestGatehouse();
  manifestId = (await registerManifest(g, manifest)).body.manifest_id;
  for (let i = 0; i < 150; i++) {
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "email", tool: "send", params }),
    );
    expect(reply.body.decision).toBe("ALLOW");
  }
}, 120_000);
afterAll(async () => {
  await g?.close();
});

describe("shadow replay and the event loop", () => {
  it("other work keeps its turn while a replay runs", async () => {
    const candidate = { ...manifest, policy: { counterparty_allowlist: ["*@acme.com"] } };
    let last = performance.now();
    let longest = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    const reply = await operator(g).post(`/manifests/${manifestId}/replay`, { candidate });
    const took = performance.now() - started;
    clearInterval(ticker);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).toMatchObject({ replayed: 150, matrix: [{ from: "ALLOW", to: "DENY", count: 150 }] });
    expect(longest, `longest pause ${longest} ms in a replay of ${took} ms`).toBeLessThan(250);
  });
});
