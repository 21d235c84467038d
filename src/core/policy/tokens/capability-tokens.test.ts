import { describe, expect, it } from "vitest";
import { SignJWT, createLocalJWKSet, jwtVerify, decodeProtectedHeader } from "jose";
import { generateKeyPairSync } from "node:crypto";
import openapi from "../../../../generated/openapi.json" with { type: "json" };
import { engine, ORG, supportBot } from "../test-fixtures";
import { MAX_TOKEN_CHARS } from "./capability-tokens";

async function setup(now?: () => Date) {
  const e = await engine(now);
  const manifest = e.manifests.register(ORG, supportBot());
  const issue = (over: Partial<Parameters<typeof e.tokens.issue>[0]> = {}) =>
    e.tokens.issue({
      orgId: ORG,
      issuerId: "issuer-abc123",
      issuedBy: "ops@acme.com",
      agentId: "customer-support-bot",
      manifest,
      capabilities: ["email:send"],
      ...over,
    });
  const verify = (token: string, agentId = "customer-support-bot") =>
    e.tokens.verify(token, { orgId: ORG, agentId, uapkId: "customer-support-bot" });
  return { ...e, manifest, issue, verify };
}

describe("capability tokens", () => {
  it("issues an EdDSA JWT with kid, aud, exp, nbf, jti and the seed's response shape", async () => {
    const s = await setup();
    const issued = await s.issue({
      capabilities: ["email:send", "crm:read"],
      expiresInHours: 24,
      constraints: { max_actions: 100, allowed_recipients: ["*@acme.com"] },
    });
    expect(issued).toMatchObject({
      capabilities: ["email:send", "crm:read"],
      constraints: { max_actions: 100, allowed_recipients: ["*@acme.com"] },
      expires_at: "2024-12-15T10:30:00.000Z",
    });
    expect(issued.token_id).toMatch(/^tok-/);
    const header = decodeProtectedHeader(issued.token);
    expect(header.alg).toBe("EdDSA");
    // Verifiable by a third party from the published JWKS alone.
    const { payload } = await jwtVerify(issued.token, createLocalJWKSet(s.keys.publicJwks()), {
      audience: "uapk-gateway",
      currentDate: new Date("2024-12-14T11:00:00Z"),
    });
    expect(payload).toMatchObject({
      sub: "customer-support-bot",
      iss: "issuer-abc123",
      jti: issued.token_id,
      token_type: "capability",
      cap: ["email:send", "crm:read"],
    });
    expect(typeof payload.nbf).toBe("number");
  });

  it("refuses capabilities beyond the manifest, listing each", async () => {
    const s = await setup();
    await expect(s.issue({ capabilities: ["email:send", "payment:wire", "db:drop"] })).rejects.toMatchObject({
      problems: [
        { pointer: "/capabilities/1", message: "'payment:wire' is not a capability of the manifest" },
        { pointer: "/capabilities/2", message: "'db:drop' is not a capability of the manifest" },
      ],
    });
  });

  it("refuses constraints that would make a token longer than a request may carry, and stores nothing", async () => {
    const s = await setup();
    const patterns = (n: number) => Array.from({ length: n }, (_, i) => `*@d${i}.example.com`);
    await expect(s.issue({ constraints: { allowed_recipients: patterns(1_000) } })).rejects.toMatchObject({
      problems: [{ pointer: "/constraints/allowed_recipients", message: expect.stringMatching(/more than the 8192/) }],
    });
    expect(s.tokens.list(ORG, { includeInactive: true })).toEqual([]);
    const { token } = await s.issue({ constraints: { allowed_recipients: patterns(100) } });
    expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_CHARS);
    expect((await s.verify(token)).ok).toBe(true);
  });

  it("refuses allowed_recipients patterns that could never match: blank, or holding a separator", async () => {
    const s = await setup();
    const allowed_recipients = ["*@acme.com", "", "  ", "a@acme.com,b@acme.com", "c@acme.com;", "d@acme.com\n"];
    await expect(s.issue({ constraints: { allowed_recipients } })).rejects.toMatchObject({
      problems: [
        { pointer: "/constraints/allowed_recipients/1", message: "a pattern must not be empty" },
        { pointer: "/constraints/allowed_recipients/2", message: "a pattern must not be empty" },
        { pointer: "/constraints/allowed_recipients/3", message: expect.stringMatching(/holds a separator/) },
        { pointer: "/constraints/allowed_recipients/4", message: expect.stringMatching(/holds a separator/) },
        { pointer: "/constraints/allowed_recipients/5", message: expect.stringMatching(/holds a separator/) },
      ],
    });
    expect(s.tokens.list(ORG, { includeInactive: true })).toEqual([]);
  });

  it("MAX_TOKEN_CHARS is the capability_token bound of every request that carries one", () => {
    const schemas = openapi.components.schemas as Record<
      string,
      { properties?: Record<string, { maxLength?: number }> }
    >;
    for (const name of ["EvaluateRequest", "ExecuteRequest", "BatchRequest"])
      expect(schemas[name]?.properties?.capability_token?.maxLength, name).toBe(MAX_TOKEN_CHARS);
  });

  it("verifies a good token and rejects another agent", async () => {
    const s = await setup();
    const { token } = await s.issue();
    expect((await s.verify(token)).ok).toBe(true);
    expect(await s.verify(token, "other-bot")).toMatchObject({ ok: false, code: "INVALID_TOKEN" });
  });

  it("rejects alg none, a foreign key, a wrong audience and a missing exp as INVALID_TOKEN", async () => {
    const s = await setup();
    const { kid } = s.keys.activeKey();
    const claims = { token_type: "capability", cap: ["email:send"], org_id: ORG, uapk_id: "customer-support-bot" };
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const none = `${b64({ alg: "none", kid })}.${b64({ ...claims, sub: "customer-support-bot", aud: "uapk-gateway", exp: 2e9, nbf: 1, jti: "tok-x", iss: "x" })}.`;
    const foreign = generateKeyPairSync("ed25519").privateKey;
    const sign = (key = s.keys.activeKey().privateKey) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "EdDSA", kid })
        .setSubject("customer-support-bot")
        .setIssuer("x")
        .setJti("tok-x")
        .setNotBefore(1);
    const foreignToken = await sign().setAudience("uapk-gateway").setExpirationTime(2e9).sign(foreign);
    const wrongAud = await sign()
      .setAudience("someone-else")
      .setExpirationTime(2e9)
      .sign(s.keys.activeKey().privateKey);
    const noExp = await sign().setAudience("uapk-gateway").sign(s.keys.activeKey().privateKey);
    for (const token of [none, foreignToken, wrongAud, noExp, "eyJhbGciOiJFZERTQSJ9.e30.signature"]) {
      expect(await s.verify(token)).toMatchObject({ ok: false, code: "INVALID_TOKEN" });
    }
  });

  it("expires (TOKEN_EXPIRED) and revokes by jti (TOKEN_REVOKED)", async () => {
    let clock = new Date("2024-12-14T10:00:00Z");
    const s = await setup(() => clock);
    const a = await s.issue({ expiresInHours: 1 });
    const b = await s.issue();
    const revoked = s.tokens.revoke(ORG, b.token_id, "ops@acme.com", "Suspected token compromise");
    expect(revoked).toMatchObject({ revoked: true, revoke_reason: "Suspected token compromise" });
    expect(await s.verify(b.token)).toMatchObject({ ok: false, code: "TOKEN_REVOKED" });
    clock = new Date("2024-12-14T11:00:01Z");
    expect(await s.verify(a.token)).toMatchObject({ ok: false, code: "TOKEN_EXPIRED" });
    expect(s.tokens.list(ORG).map((t) => t.token_id)).toEqual([]);
    expect(s.tokens.list(ORG, { includeInactive: true })).toHaveLength(2);
  });

  it("lists a page at a time in the store: newest first, ties by id, each token once, revoked ones only when asked", async () => {
    let clock = new Date("2024-12-14T10:00:00Z");
    const s = await setup(() => clock);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      if (i % 3 === 0) clock = new Date(clock.getTime() + 1000); // several tokens issued in the same millisecond
      ids.push((await s.issue()).token_id);
    }
    s.tokens.revoke(ORG, ids[6]!, "ops@acme.com");
    const walk = (includeInactive: boolean) => {
      const seen: string[] = [];
      let after: { issued_at: string; token_id: string } | undefined;
      for (;;) {
        const page = s.tokens.list(ORG, { includeInactive, limit: 2, ...(after ? { after } : {}) });
        expect(page.length).toBeLessThanOrEqual(2); // the store answers a page, not every token of the org
        seen.push(...page.map((t) => t.token_id));
        const last = page.at(-1);
        if (page.length < 2 || !last) return seen;
        after = { issued_at: last.issued_at, token_id: last.token_id };
      }
    };
    const newestFirst = s.tokens.list(ORG, { includeInactive: true }).map((t) => t.token_id);
    expect(walk(true)).toEqual(newestFirst);
    expect(new Set(newestFirst)).toEqual(new Set(ids));
    expect(walk(false)).toEqual(newestFirst.filter((id) => id !== ids[6]));
  });

  it("rotation keeps old tokens verifying, signs new ones with the new key, and publishes both", async () => {
    const s = await setup();
    const old = await s.issue();
    const { kid, previous_kid } = s.keys.rotate();
    const fresh = await s.issue();
    expect(decodeProtectedHeader(fresh.token).kid).toBe(kid);
    expect(decodeProtectedHeader(old.token).kid).toBe(previous_kid);
    expect((await s.verify(old.token)).ok).toBe(true);
    expect(
      s.keys
        .publicJwks()
        .keys.map((k) => k.kid)
        .sort(),
    ).toEqual([kid, previous_kid].sort());
    expect(s.keys.publicJwks().keys.every((k) => !("d" in k))).toBe(true);
  });
});
