// The built-in development identity provider of the embedded default: an RS256 key kept in the data
// directory, tokens minted for operators and IDE users, the public key published in /.well-known/jwks.json.
// With JWKS_URL set, Gatehouse does not use it: only the external provider's tokens are accepted.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

export interface MintOptions {
  sub: string;
  org?: string;
  roles?: string[];
  /** Lifetime in seconds (default 1 hour). */
  ttlSeconds?: number;
}

export interface DevIssuer {
  readonly issuer: string;
  readonly audience: string;
  publicJwk(): JWK;
  mint(opts: MintOptions): Promise<string>;
}

export async function loadDevIssuer(dataDir: string, issuer: string, audience: string): Promise<DevIssuer> {
  const file = join(dataDir, "dev-issuer.private.jwk.json");
  let privateJwk: JWK;
  if (existsSync(file)) {
    privateJwk = JSON.parse(readFileSync(file, "utf8")) as JWK;
  } else {
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    privateJwk = { ...(await exportJWK(privateKey)), alg: "RS256", kid: `dev-${Date.now().toString(36)}` };
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(privateJwk), { mode: 0o600 });
  }
  const key = await importJWK(privateJwk, "RS256");
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = privateJwk;
  const publicJwk: JWK = { ...pub, use: "sig" };
  return {
    issuer,
    audience,
    publicJwk: () => publicJwk,
    async mint({ sub, org, roles = [], ttlSeconds = 3600 }) {
      return new SignJWT({ ...(org ? { org } : {}), roles })
        .setProtectedHeader({ alg: "RS256", kid: privateJwk.kid!, typ: "JWT" })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(sub)
        .setIssuedAt()
        .setNotBefore("0s")
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key);
    },
  };
}
