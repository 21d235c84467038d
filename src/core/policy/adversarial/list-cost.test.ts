// Hostile input, cost side: one action must not buy seconds of the event loop. A list rule checks every recipient
// against the list (a manifest allows 1,000 patterns per list, the params up to 10,000 values): that product has
// to stay cheap, or a single request freezes every other request of the gateway while it is decided.
import { describe, expect, it } from "vitest";
import { decide } from "../pipeline";
import { emailRequest, engine, ORG, supportBot } from "../test-fixtures";

const RECIPIENTS = Array.from({ length: 9_900 }, (_, i) => `u${i}@d99.example.com`);

async function timed(run: () => Promise<{ decision: string }>) {
  const started = performance.now();
  const { decision } = await run();
  return { decision, ms: performance.now() - started };
}

describe("list rules against many recipients", () => {
  it("9,900 recipients under a 1,000-entry allowlist and blocklist are decided in under a second (it took seconds)", async () => {
    const e = await engine();
    e.manifests.register(
      ORG,
      supportBot({
        constraints: {},
        policy: {
          counterparty_allowlist: Array.from({ length: 1_000 }, (_, i) => `*@d${i}.example.com`),
          counterparty_blocklist: Array.from({ length: 1_000 }, (_, i) => `*@b${i}.example.com`),
        },
      }),
    );
    const request = emailRequest({ action: { type: "email", tool: "send", params: { to: RECIPIENTS } } });
    await decide(ORG, request, e.deps, { now: e.now() }); // warm
    const { decision, ms } = await timed(() => decide(ORG, request, e.deps, { now: e.now() }));
    expect(decision).toBe("ALLOW");
    expect(ms, `${ms} ms`).toBeLessThan(1_000);
  });

  it("the same under a token's allowed_recipients (a list no cache keeps; 250 patterns fit a token)", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot({ constraints: {} }));
    const manifest = e.manifests.getByUapkId(ORG, "customer-support-bot")!;
    const { token } = await e.tokens.issue({
      orgId: ORG,
      issuerId: "ops@acme.com",
      manifest,
      agentId: manifest.agent.id,
      capabilities: ["email:send"],
      constraints: { allowed_recipients: Array.from({ length: 250 }, (_, i) => `*@d${i}.example.com`) },
    });
    const request = emailRequest({
      capability_token: token,
      action: { type: "email", tool: "send", params: { to: RECIPIENTS } },
    });
    await decide(ORG, request, e.deps, { now: e.now() }); // warm
    const { decision, ms } = await timed(() => decide(ORG, request, e.deps, { now: e.now() }));
    expect(decision).toBe("ALLOW");
    expect(ms, `${ms} ms`).toBeLessThan(1_000);
  });
});
