// The engine's manifest read is cached per row: what it returns must still follow every change to the row.
import { describe, expect, it } from "vitest";
import { must } from "../must";
import { decide } from "./pipeline";
import { emailRequest, engine, ORG, supportBot } from "./test-fixtures";
import type { Manifest } from "./types";

describe("manifest read by the engine", () => {
  it("follows a changed body and status, even though the parsed manifest is reused between reads", async () => {
    const e = await engine();
    const m = e.manifests.register(ORG, supportBot());
    const first = e.manifests.getByUapkId(ORG, "customer-support-bot");
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")).toBe(first); // unchanged row: reused

    // A new body (GitOps file edited): the next action sees it.
    e.manifests.upsert(
      ORG,
      supportBot({
        capabilities: ["crm:read"],
        constraints: {},
        tools: { "crm:read": { connector: { type: "echo" } } },
      }),
    );
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")?.capabilities).toEqual(["crm:read"]);
    expect((await decide(ORG, emailRequest(), e.deps)).decision).toBe("DENY");

    // A status change with the same body: seen too.
    e.manifests.setStatus(ORG, m.manifest_id, "suspended");
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")?.status).toBe("suspended");
  });

  it("hands out a frozen manifest: one caller cannot change what the next request is judged by", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot());
    const shared = e.manifests.getByUapkId(ORG, "customer-support-bot")!;
    expect(() => shared.capabilities.push("payments:send")).toThrow(TypeError);
    expect(() => {
      must(shared.tools["email:send"], "the support bot sends email").connector.type = "http";
    }).toThrow(TypeError);
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")?.capabilities).not.toContain("payments:send");
  });

  // The lists a decision matches against are derived once per manifest list (./list-cache.ts): a stale derivation
  // would apply a list that no longer exists.
  it("applies a changed policy list to the very next decision", async () => {
    const e = await engine();
    const policy = (allow: string[], block: string[], jurisdictions: string[]) => ({
      counterparty_allowlist: allow,
      counterparty_blocklist: block,
      jurisdiction_allowlist: jurisdictions,
    });
    const send = (to: string, jurisdiction = "DE") =>
      decide(ORG, emailRequest({ action: { type: "email", tool: "send", params: { to }, jurisdiction } }), e.deps);
    e.manifests.register(ORG, supportBot({ policy: policy(["*@acme.com"], ["boss@acme.com"], ["DE"]) }));
    expect((await send("ann@acme.com")).decision).toBe("ALLOW");
    expect((await send("x@evil.io")).decision).toBe("DENY");
    expect((await send("boss@acme.com")).reasons[0]?.message).toMatch(/blocklist/u);
    expect((await send("ann@acme.com", "FR")).reasons[0]?.code).toBe("JURISDICTION_BLOCKED");

    e.manifests.upsert(ORG, supportBot({ policy: policy(["*@evil.io"], ["ann@acme.com"], ["FR"]) }));
    expect((await send("x@evil.io", "FR")).decision).toBe("ALLOW");
    expect((await send("ann@acme.com", "FR")).reasons[0]?.message).toMatch(/blocklist/u);
    expect((await send("boss@acme.com", "FR")).reasons[0]?.message).toMatch(/not on the allowlist/u);
    expect((await send("x@evil.io", "DE")).reasons[0]?.code).toBe("JURISDICTION_BLOCKED");

    // The capabilities too (the action types are derived from them).
    e.manifests.upsert(
      ORG,
      supportBot({
        capabilities: ["crm:read"],
        constraints: {},
        tools: { "crm:read": { connector: { type: "echo" } } },
      }),
    );
    expect((await send("x@evil.io", "FR")).reasons[0]?.code).toBe("ACTION_NOT_ALLOWED");
  });

  it("follows a list changed in place in a manifest that is not deep-frozen (as a replay builds one)", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot());
    const stored = e.manifests.getByUapkId(ORG, "customer-support-bot");
    const allow = ["*@acme.com"];
    // Frozen at the top only, as the shadow replay freezes its candidate manifest: the list itself can change.
    const manifest = Object.freeze({ ...stored, policy: { counterparty_allowlist: allow } }) as Manifest;
    const deps = { ...e.deps, manifests: { getByUapkId: () => manifest } };
    const send = (to: string) =>
      decide(ORG, emailRequest({ action: { type: "email", tool: "send", params: { to } } }), deps);
    expect((await send("x@evil.io")).decision).toBe("DENY");
    allow.push("*@evil.io");
    expect((await send("x@evil.io")).decision).toBe("ALLOW");
    allow.splice(0, allow.length);
    expect((await send("ann@acme.com")).decision).toBe("DENY");
  });
});
