import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserTokenVerifier, UserTokenError } from "./user-tokens";

const ISSUER = "https://idp.test";
const AUDIENCE = "gatehouse";

interface SigningKey {
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(alg: "RS256" | "ES256" | "EdDSA", kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

function mint(
  key: SigningKey,
  alg: string,
  claims: Record<string, unknown> = {},
  opts: {
    kid?: string | null;
    iss?: string;
    aud?: string;
    exp?: string | number;
    iat?: number;
    typ?: string | null;
  } = {},
) {
  const header: Record<string, string> = { alg };
  if (opts.typ !== null) header.typ = opts.typ ?? "JWT";
  if (opts.kid !== null) header.kid = opts.kid ?? key.jwk.kid!;
  return new SignJWT(claims)
    .setProtectedHeader(header as { alg: string })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setSubject(typeof claims.sub === "string" ? claims.sub : "user-1")
    .setIssuedAt(opts.iat)
    .setExpirationTime(opts.exp ?? "5m")
    .sign(key.privateKey);
}

/** A tiny IdP: serves whatever `keys` holds; `down` makes it answer 503. */
const idp = { keys: [] as JWK[], down: false, fetches: 0 };
let server: Server;
let jwksUrl: string;
let rsa: SigningKey;

beforeAll(async () => {
  rsa = await signingKey("RS256", "rsa-1");
  idp.keys = [rsa.jwk];
  server = createServer((_req, res) => {
    idp.fetches++;
    if (idp.down) return res.writeHead(503).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: idp.keys }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const verifier = (cacheMaxAgeMs = 60_000, cooldownMs = 30_000) =>
  createUserTokenVerifier({ jwksUrl, issuer: ISSUER, audience: AUDIENCE, cacheMaxAgeMs, cooldownMs });

async function failure(p: Promise<unknown>): Promise<UserTokenError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserTokenError);
  return err as UserTokenError;
}

describe("createUserTokenVerifier (remote JWKS)", () => {
  it("accepts a valid RS256 token and maps org/roles claims", async () => {
    const token = await mint(rsa, "RS256", { org: "acme", roles: ["operator", 7] });
    const claims = await verifier()(token);
    expect(claims).toMatchObject({ sub: "user-1", orgId: "acme", roles: ["operator"] });
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
  });

  it("rejects an expired token with TOKEN_EXPIRED", async () => {
    const token = await mint(rsa, "RS256", {}, { exp: Math.floor(Date.now() / 1000) - 120 });
    const err = await failure(verifier()(token));
    expect(err.code).toBe("TOKEN_EXPIRED");
  });

  it.each([
    ["wrong issuer", { iss: "https://evil.test" }, "claim_invalid"],
    ["wrong audience", { aud: "someone-else" }, "claim_invalid"],
    ["unknown kid", { kid: "nope" }, "unknown_kid"],
    ["missing kid", { kid: null }, "missing_kid"],
  ] as const)("rejects %s with TOKEN_INVALID", async (_name, opts, reason) => {
    const token = await mint(rsa, "RS256", {}, opts as never);
    const err = await failure(verifier()(token));
    expect(err.code).toBe("TOKEN_INVALID");
    expect(err.reason).toBe(reason);
  });

  it("rejects a token issued in the future, beyond a minute of clock skew", async () => {
    const now = Math.floor(Date.now() / 1000);
    const nextWeek = await mint(rsa, "RS256", {}, { iat: now + 7 * 86_400, exp: now + 8 * 86_400 });
    const err = await failure(verifier()(nextWeek));
    expect(err.code).toBe("TOKEN_INVALID");
    expect(err.reason).toBe("claim_invalid");
    expect(err.message).toContain("iat");
    // An identity provider whose clock is a few seconds ahead is not refused.
    await expect(verifier()(await mint(rsa, "RS256", {}, { iat: now + 20 }))).resolves.toMatchObject({ sub: "user-1" });
  });

  it("accepts an nbf a few seconds ahead (clock skew), refuses one beyond a minute", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(verifier()(await mint(rsa, "RS256", { nbf: now + 20 }))).resolves.toMatchObject({ sub: "user-1" });
    const err = await failure(verifier()(await mint(rsa, "RS256", { nbf: now + 120 })));
    expect(err.code).toBe("TOKEN_INVALID");
    expect(err.reason).toBe("claim_invalid");
    expect(err.message).toContain("nbf");
  });

  it("gives exp no clock-skew tolerance: a token expired a second ago is refused", async () => {
    const now = Math.floor(Date.now() / 1000);
    const err = await failure(verifier()(await mint(rsa, "RS256", {}, { iat: now - 600, exp: now - 1 })));
    expect(err.code).toBe("TOKEN_EXPIRED");
    expect(err.reason).toBe("expired");
  });

  it("rejects an iat that is not a number", async () => {
    const token = await new SignJWT({ iat: "1700000000" } as never)
      .setProtectedHeader({ alg: "RS256", kid: "rsa-1" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject("user-1")
      .setExpirationTime("5m")
      .sign(rsa.privateKey);
    expect((await failure(verifier()(token))).reason).toBe("claim_invalid");
  });

  it("rejects alg none, HS256 and garbage", async () => {
    const none = new UnsecuredJWT({})
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject("user-1")
      .setExpirationTime("5m")
      .encode();
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", kid: "rsa-1" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject("user-1")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("a-shared-secret-that-is-long-enough-32b"));
    const v = verifier();
    expect((await failure(v(none))).reason).toBe("alg_not_allowed");
    expect((await failure(v(hs))).reason).toBe("alg_not_allowed");
    expect((await failure(v("not.a.jwt"))).reason).toBe("malformed");
  });

  it.each([
    ["an array", ["acme"]],
    ["an object", { id: "acme" }],
    ["a number", 42],
  ])("rejects an org claim that is %s: it names an org, just not as a string", async (_name, org) => {
    // Read as "no org", the sessions face would decide the user's tool calls in the default org.
    const err = await failure(verifier()(await mint(rsa, "RS256", { org })));
    expect(err.code).toBe("TOKEN_INVALID");
    expect(err.reason).toBe("claim_invalid");
    expect(err.message).toContain("org");
  });

  it.each([
    ["a lone surrogate in sub", { sub: "op\ud800x" }, "sub"],
    ["a NUL in sub", { sub: "op\u0000x" }, "sub"],
    ["a line break in sub", { sub: "op\nadmin" }, "sub"],
    ["a C1 control (NEL) in sub", { sub: "op\u0085x" }, "sub"],
    ["a lone surrogate in org", { org: "acme\udc00" }, "org"],
  ])("rejects %s: a store would record another name than the token's", async (_name, claims, claim) => {
    // `op\ud800x` and `op\udc00x` both become `op\ufffdx` once stored: two people, one approver on record.
    const err = await failure(verifier()(await mint(rsa, "RS256", claims)));
    expect(err.reason).toBe("claim_invalid");
    expect(err.message).toContain(claim);
  });

  it.each([
    ["spaces", "   "],
    ["an ideographic space", "\u3000"],
    ["a zero-width space", "\u200b"],
    ["a Hangul filler", "\u3164"],
    ["spaces around a zero-width joiner", " \u200d "],
  ])("rejects a sub of %s: it names nobody", async (_name, sub) => {
    const err = await failure(verifier()(await mint(rsa, "RS256", { sub })));
    expect(err.code).toBe("TOKEN_INVALID");
    expect(err.reason).toBe("claim_invalid");
    expect(err.message).toBe("JWT sub claim is blank: it must name the user");
  });

  it.each([
    ["spaces", "   "],
    ["a zero-width space", "\u200b"],
  ])("rejects an org of %s: it names no org, and is not the absent one either", async (_name, org) => {
    const err = await failure(verifier()(await mint(rsa, "RS256", { org })));
    expect(err.reason).toBe("claim_invalid");
    expect(err.message).toBe("JWT org claim is blank: it must name the org, or be absent");
  });

  it("reads a name with spaces in it as it is", async () => {
    expect((await verifier()(await mint(rsa, "RS256", { sub: " Alice Smith " }))).sub).toBe(" Alice Smith ");
  });

  it("reads an empty or null org claim as no org", async () => {
    for (const org of ["", null]) expect((await verifier()(await mint(rsa, "RS256", { org }))).orgId).toBeUndefined();
  });

  describe("an ID token is not an access token, whatever its aud", () => {
    // The same provider signs both with the same keys; an ID token whose aud is the API's audience verifies.
    it.each([
      ["a nonce (the console always sends one)", { nonce: "n-0S6_WzA2Mj" }, "nonce", {}],
      ["an at_hash", { at_hash: "77QmUPtjPfzWtF2AnpK9RQ" }, "at_hash", {}],
      ["a c_hash", { c_hash: "LDktKdoQak3Pk0cnXxCltA" }, "c_hash", {}],
      ["an s_hash", { s_hash: "x8Q3n7ddRmq2KqyO-Vm29g" }, "s_hash", {}],
      ["Keycloak's typ ID", { typ: "ID", azp: "gatehouse-console" }, 'typ "ID"', {}],
      ["AWS Cognito's token_use id (R17)", { token_use: "id", "cognito:username": "u" }, 'token_use "id"', {}],
      ["a nonce, without a typ header", { nonce: "n-1" }, "nonce", { typ: null }],
    ])("refuses one that carries %s", async (_name, claims, named, opts) => {
      const err = await failure(verifier()(await mint(rsa, "RS256", { org: "acme", ...claims }, opts)));
      expect(err).toMatchObject({ code: "TOKEN_INVALID", reason: "not_access_token" });
      expect(err.message).toContain(named);
    });

    it.each(["id_token", "logout+jwt", "secevent+jwt", "dpop+jwt", "JOSE+JSON"])(
      "refuses a token typed %s",
      async (typ) => {
        const err = await failure(verifier()(await mint(rsa, "RS256", { org: "acme" }, { typ })));
        expect(err).toMatchObject({ code: "TOKEN_INVALID", reason: "not_access_token" });
        expect(err.message).toContain(typ);
      },
    );

    it("accepts RFC 9068 access tokens (typ at+jwt), plain JWT and untyped ones", async () => {
      for (const typ of ["at+jwt", "application/at+jwt", "AT+JWT", "JWT", "jwt", null]) {
        const claims = await verifier()(await mint(rsa, "RS256", { org: "acme", scope: "openid" }, { typ }));
        expect(claims.orgId).toBe("acme");
      }
      // AWS Cognito's access tokens say token_use "access".
      const cognito = await mint(rsa, "RS256", { org: "acme", token_use: "access", client_id: "c" });
      expect((await verifier()(cognito)).orgId).toBe("acme");
    });

    it("accepts Keycloak's access tokens (payload typ Bearer), to which older Keycloak versions copied the nonce", async () => {
      const token = await mint(rsa, "RS256", { org: "acme", typ: "Bearer", nonce: "n-2", azp: "gatehouse-console" });
      expect((await verifier()(token)).orgId).toBe("acme");
      // …but not the ID-token-only hashes, which Keycloak never put in an access token.
      const hashed = await mint(rsa, "RS256", { org: "acme", typ: "Bearer", at_hash: "77QmUPtjPfzWtF2AnpK9RQ" });
      expect((await failure(verifier()(hashed))).reason).toBe("not_access_token");
    });

    it("judges the kind only of a verified token: a forged ID token is a bad signature", async () => {
      const impostor = await signingKey("RS256", "rsa-1");
      const err = await failure(verifier()(await mint(impostor, "RS256", { nonce: "n" }, { typ: "id_token" })));
      expect(err.reason).toBe("bad_signature");
    });
  });

  it("rejects a token signed by another key that claims a known kid", async () => {
    const impostor = await signingKey("RS256", "rsa-1");
    const err = await failure(verifier()(await mint(impostor, "RS256")));
    expect(err.reason).toBe("bad_signature");
  });

  it("accepts ES256 and EdDSA", async () => {
    const ec = await signingKey("ES256", "ec-1");
    const ed = await signingKey("EdDSA", "ed-1");
    idp.keys = [rsa.jwk, ec.jwk, ed.jwk];
    try {
      const v = verifier();
      expect((await v(await mint(ec, "ES256"))).sub).toBe("user-1");
      expect((await v(await mint(ed, "EdDSA"))).sub).toBe("user-1");
    } finally {
      idp.keys = [rsa.jwk];
    }
  });

  it("picks up a rotated key at once (refetch on unknown kid), not after the cache max age", async () => {
    const v = verifier(3_600_000, 0);
    await v(await mint(rsa, "RS256")); // primes the cache
    const rotated = await signingKey("RS256", "rsa-2");
    idp.keys = [rsa.jwk, rotated.jwk];
    try {
      expect((await v(await mint(rotated, "RS256"))).sub).toBe("user-1");
    } finally {
      idp.keys = [rsa.jwk];
    }
  });

  it("keeps verifying with cached keys while the IdP is down", async () => {
    const v = verifier(1); // stale after 1 ms: every call tries to refresh
    await v(await mint(rsa, "RS256"));
    idp.down = true;
    try {
      await new Promise((r) => setTimeout(r, 5));
      const before = idp.fetches;
      expect((await v(await mint(rsa, "RS256"))).sub).toBe("user-1");
      expect(idp.fetches).toBeGreaterThan(before); // it did try the IdP
    } finally {
      idp.down = false;
    }
  });

  it("fails closed when the IdP is down and nothing is cached", async () => {
    idp.down = true;
    try {
      const err = await failure(verifier()(await mint(rsa, "RS256")));
      expect(err).toMatchObject({ code: "TOKEN_INVALID", reason: "jwks_unavailable" });
    } finally {
      idp.down = false;
    }
  });
});

describe("createUserTokenVerifier (embedded issuer)", () => {
  it("verifies against local keys and sees key rotation immediately", async () => {
    let keys = [rsa.jwk];
    const v = createUserTokenVerifier({
      localJwks: () => ({ keys }),
      issuer: ISSUER,
      audience: AUDIENCE,
      cacheMaxAgeMs: 0,
    });
    expect((await v(await mint(rsa, "RS256"))).sub).toBe("user-1");
    const next = await signingKey("RS256", "rsa-9");
    expect((await failure(v(await mint(next, "RS256")))).reason).toBe("unknown_kid");
    keys = [rsa.jwk, next.jwk];
    expect((await v(await mint(next, "RS256"))).sub).toBe("user-1");
  });
});
