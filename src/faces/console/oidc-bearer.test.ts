// What the operator API takes from an external OpenID Connect provider (JWKS_URL): its access token, and not its
// ID token, even one whose `aud` is the API's audience (a console registered with that client id). Attacks beside
// it: another issuer's token, alg none.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ORG_ID } from "../../../contract-tests/fixtures";
import { loadConfig } from "../../config";
import { logger } from "../../core/log/logger";
import { NOT_AN_ACCESS_TOKEN } from "../../http/boundary/bearer";
import { startGatehouse, type Gatehouse } from "../../server";
import { startTestOidcProvider, type TestOidcProvider } from "../../test-support/oidc-provider";

const AUDIENCE = "gatehouse";
const operator = { org: ORG_ID, roles: ["operator"] };
let idp: TestOidcProvider;
let other: TestOidcProvider;
let g: Gatehouse;
let dataDir: string;

beforeAll(async () => {
  const user = { sub: "alice@acme.example", ...operator };
  // The console's client id is the API's audience: the provider's ID tokens for it have the API's `aud`.
  idp = await startTestOidcProvider({ clientId: AUDIENCE, redirectUri: "http://127.0.0.1/console/", user });
  other = await startTestOidcProvider({ clientId: AUDIENCE, redirectUri: "http://127.0.0.1/console/", user });
  dataDir = mkdtempSync(join(tmpdir(), "gatehouse-oidc-bearer-"));
  const env = {
    GATEHOUSE_DATA_DIR: dataDir,
    PORT: "0",
    PURUTO_GATEWAY_API_KEY: "oidc-bearer-test-key",
    GATEHOUSE_DEFAULT_ORG: ORG_ID,
    LOG_LEVEL: "silent",
    JWKS_URL: idp.jwksUrl,
    GATEHOUSE_JWT_ISSUER: idp.issuer,
    GATEHOUSE_JWT_AUDIENCE: AUDIENCE,
  };
  g = await startGatehouse(loadConfig(env), logger, env);
});

afterAll(async () => {
  await g?.close();
  await idp?.close();
  await other?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const approvals = (token: string) =>
  fetch(`${g.url}/api/v1/orgs/${ORG_ID}/approvals?limit=1`, { headers: { authorization: `Bearer ${token}` } });

describe("bearer tokens from an external OpenID Connect provider", () => {
  it("takes the provider's access token", async () => {
    const accessToken = await idp.sign({ ...operator, scope: "openid profile" }, AUDIENCE);
    expect((await approvals(accessToken)).status).toBe(200);
  });

  it("takes an RFC 9068 access token (typ at+jwt), even with a nonce", async () => {
    const accessToken = await idp.sign({ ...operator, nonce: "n-1" }, AUDIENCE, { typ: "at+jwt" });
    expect((await approvals(accessToken)).status).toBe(200);
  });

  it("refuses its ID token, aud the API's, with a 401 problem that says what it is", async () => {
    const idToken = await idp.sign({ ...operator, nonce: "n-0S6_WzA2Mj", at_hash: "77QmUPtjPfzWtF2AnpK9RQ" }, AUDIENCE);
    const res = await approvals(idToken);
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="gatehouse", error="invalid_token"');
    expect(await res.json()).toMatchObject({ status: 401, code: "TOKEN_INVALID", detail: NOT_AN_ACCESS_TOKEN });
  });

  it("refuses an ID token typed as one, and a back-channel logout token", async () => {
    for (const typ of ["id_token", "logout+jwt"]) {
      const res = await approvals(await idp.sign(operator, AUDIENCE, { typ }));
      expect(await res.json()).toMatchObject({ status: 401, code: "TOKEN_INVALID", detail: NOT_AN_ACCESS_TOKEN });
    }
  });

  it("refuses another provider's access token and an unsigned one as invalid, not as ID tokens", async () => {
    const foreign = await other.sign(operator, AUDIENCE);
    const unsigned = new UnsecuredJWT({ ...operator })
      .setIssuer(idp.issuer)
      .setAudience(AUDIENCE)
      .setSubject("alice@acme.example")
      .setExpirationTime("5m")
      .encode();
    for (const token of [foreign, unsigned]) {
      const res = await approvals(token);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: "TOKEN_INVALID", detail: "Invalid JWT token" });
    }
  });
});
