// A blank entry (or one holding a separator) in a manifest's counterparty lists is refused at registration; a
// manifest stored before that refusal existed may still hold one. Such a list cannot be applied as its author
// meant it (a blank blocklist entry is typically a template variable that came out empty: whatever it was to
// block would go through), so the gateway fails closed: every action of that manifest under its counterparty
// rules is denied, with a reason naming the entry and saying how to fix it. The manifest itself still loads, so
// an operator can read and replace it.
import { describe, expect, it } from "vitest";
import { decide } from "./pipeline";
import { emailRequest, engine, ORG, supportBot } from "./test-fixtures";

/** A manifest registered clean, then given `policy` in the store, as an older version's registration allowed. */
async function storedWith(policy: Record<string, unknown>) {
  const e = await engine();
  const manifest = e.manifests.register(ORG, supportBot());
  const body = JSON.stringify({ ...supportBot(), policy });
  e.db.prepare("UPDATE manifests SET body = ? WHERE manifest_id = ?").run(body, manifest.manifest_id);
  e.db
    .prepare("UPDATE manifests SET updated_at = ? WHERE manifest_id = ?")
    .run("2030-01-01T00:00:00Z", manifest.manifest_id);
  return e;
}

describe("a stored manifest whose counterparty list holds a blank entry", () => {
  it("a blank blocklist entry denies every action, naming the entry", async () => {
    const e = await storedWith({ counterparty_blocklist: ["*@evil.example", " "] });
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")?.policy?.counterparty_blocklist).toHaveLength(2);
    const d = await decide(ORG, emailRequest(), e.deps);
    expect(d.decision).toBe("DENY");
    expect(d.reasons).toEqual([
      {
        code: "COUNTERPARTY_BLOCKED",
        message: expect.stringMatching(
          /\/policy\/counterparty_blocklist\/1, entries registration refuses.*re-register/,
        ),
      },
    ]);
  });

  it("a blank allowlist entry denies too, even for a recipient the list allows", async () => {
    const e = await storedWith({ counterparty_allowlist: ["*@example.com", ""] });
    const d = await decide(ORG, emailRequest(), e.deps);
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message).toMatch(/\/policy\/counterparty_allowlist\/1/);
  });

  it("an entry holding a separator is refused the same way", async () => {
    const e = await storedWith({ counterparty_blocklist: ["a@evil.example, b@evil.example"] });
    const d = await decide(ORG, emailRequest(), e.deps);
    expect(d.decision).toBe("DENY");
    expect(d.reasons[0]?.message).toMatch(/\/policy\/counterparty_blocklist\/0.*separator/);
    // The agent reads the reason: the list's entries (the operator's) are not in it.
    expect(d.reasons[0]?.message).not.toContain("evil");
  });

  it("clean lists decide as before", async () => {
    const e = await storedWith({ counterparty_blocklist: ["*@evil.example"] });
    expect((await decide(ORG, emailRequest(), e.deps)).decision).toBe("ALLOW");
  });
});
