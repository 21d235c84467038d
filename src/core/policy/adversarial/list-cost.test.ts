// Hostile input, cost side: one action must not buy seconds of the event loop. A list rule checks every recipient
// against the list (a manifest allows 1,000 patterns per list, the params up to 10,000 values): that product has
// to stay cheap, or a single request freezes every other request of the gateway while it is decided.
import { describe, expect, it } from "vitest";
import { decide } from "../pipeline";
import { emailRequest, engine, ORG, sendTokenAllowing, supportBot } from "../test-fixtures";

const RECIPIENTS = Array.from({ length: 9_900 }, (_, i) => `u${i}@d99.example.com`);

/**
 * The best of five decisions' wall time, after one to warm up (scheduler noise only ever adds time). Compared as a
 * ratio between two list lengths, never with a fixed bound: a loaded machine slows both alike, a per-pattern scan of
 * every recipient slows only the long list (9,900 × 1,000 glob matches took seconds).
 */
async function bestOf(run: () => Promise<{ decision: string }>) {
  expect((await run()).decision).toBe("ALLOW");
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await run();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

/** Patterns `*@d<i>.example.com` for i < n, the recipients' domain (d99) among them. */
const domains = (n: number, letter = "d") =>
  Array.from({ length: n }, (_, i) => `*@${letter}${n === 1 ? 99 : i}.example.com`);

describe("list rules against many recipients cost what the recipients cost, whatever the list's length", () => {
  it("9,900 recipients under a 1,000-entry allowlist and blocklist, against 1-entry lists", async () => {
    const costWith = async (entries: number) => {
      const e = await engine();
      const policy = { counterparty_allowlist: domains(entries), counterparty_blocklist: domains(entries, "b") };
      e.manifests.register(ORG, supportBot({ constraints: {}, policy }));
      const request = emailRequest({ action: { type: "email", tool: "send", params: { to: RECIPIENTS } } });
      return bestOf(() => decide(ORG, request, e.deps, { now: e.now() }));
    };
    const short = await costWith(1);
    const long = await costWith(1_000);
    expect(long, `${long} ms vs ${short} ms`).toBeLessThan(4 * short + 5);
  });

  it("the same under a token's allowed_recipients (a list no cache keeps; 250 patterns fit a token)", async () => {
    const costWith = async (entries: number) => {
      const e = await engine();
      e.manifests.register(ORG, supportBot({ constraints: {} }));
      const token = await sendTokenAllowing(e, domains(entries));
      const request = emailRequest({
        capability_token: token,
        action: { type: "email", tool: "send", params: { to: RECIPIENTS } },
      });
      return bestOf(() => decide(ORG, request, e.deps, { now: e.now() }));
    };
    const short = await costWith(1);
    const long = await costWith(250);
    expect(long, `${long} ms vs ${short} ms`).toBeLessThan(4 * short + 5);
  });
});

describe("what a decision about many recipients says", () => {
  const send = emailRequest({ action: { type: "email", tool: "send", params: { to: RECIPIENTS } } });
  const size = (value: unknown) => JSON.stringify(value).length;

  it("NEW_COUNTERPARTY names ten of 9,900 and counts the rest; every one is still a fact to remember", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot({ constraints: {}, policy: { escalate_new_counterparties: true } }));
    const d = await decide(ORG, send, e.deps, { now: e.now() });
    expect(d.decision).toBe("ESCALATE");
    expect(d.reasons[0]?.message).toMatch(
      /^First interaction with counterparty 'u0@d99\.example\.com', .* and 9890 more$/u,
    );
    const trace = d.policy_trace.checks.find((c) => c.check === "counterparty_check");
    expect(trace?.details).toMatchObject({ counterparties_count: 9_900 });
    expect(size(d.reasons) + size(d.policy_trace)).toBeLessThan(10_000);
    expect(d.counterparties).toHaveLength(9_900);
  });

  it("COUNTERPARTY_BLOCKED names ten of the recipients outside the allowlist and counts the rest", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot({ constraints: {}, policy: { counterparty_allowlist: ["*@acme.com"] } }));
    const d = await decide(ORG, send, e.deps, { now: e.now() });
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message).toMatch(/ and 9890 more is not on the allowlist$/u);
    expect(size(d.reasons) + size(d.policy_trace)).toBeLessThan(10_000);
  });
});

describe("what a decision about many jurisdictions says", () => {
  it("JURISDICTION_BLOCKED names each code once, however many params repeat it", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot({ constraints: {}, policy: { jurisdiction_blocklist: ["KP"] } }));
    const countries = Array.from({ length: 9_900 }, (_, i) => (i % 2 ? "KP" : "North Korea"));
    const request = emailRequest({ action: { type: "email", tool: "send", params: { country: countries } } });
    const d = await decide(ORG, request, e.deps, { now: e.now() });
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message).toBe("Jurisdiction 'KP' is blocked");
    const trace = d.policy_trace.checks.find((c) => c.check === "jurisdiction_check");
    expect(trace?.details).toEqual({ jurisdictions: ["KP"] });
  });
});

describe("what a decision quotes of long keys and values", () => {
  it("a DENY quotes at most a few hundred characters of each param path and recipient (a 1 MB body cannot write 2 MB)", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot({ constraints: {}, policy: { counterparty_allowlist: ["*@acme.com"] } }));
    const params: Record<string, unknown> = {};
    for (let i = 0; i < 5; i++) params[`k${i}${"x".repeat(90_000)}`] = { to: `${"y".repeat(90_000)}${i}@evil.example` };
    const d = await decide(ORG, emailRequest({ action: { type: "email", tool: "send", params } }), e.deps, {
      now: e.now(),
    });
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message).toMatch(
      /^Counterparty 'y{200}…\(90014 chars\)' \(params\.k0x{198}…\(90002 chars\)\.to\)/u,
    );
    expect(JSON.stringify(d.reasons).length + JSON.stringify(d.policy_trace).length).toBeLessThan(10_000);
  });

  it("so does a currency it cannot compare", async () => {
    const e = await engine();
    e.manifests.register(
      ORG,
      supportBot({ constraints: {}, policy: { amount_threshold: { amount: 10, currency: "EUR" } } }),
    );
    const params = { amount: 5, currency: "B".repeat(500_000) };
    const d = await decide(ORG, emailRequest({ action: { type: "email", tool: "send", params } }), e.deps, {
      now: e.now(),
    });
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message.length).toBeLessThan(500);
  });
});
