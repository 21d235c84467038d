// The built-in development identity provider: tokens minted for operators and IDE users, the public key
// published in /.well-known/jwks.json. Embedded default: an RS256 key kept in the data directory. On PostgreSQL
// (several nodes): an Ed25519 key in the shared store beside the other signing keys, sealed by GATEHOUSE_SECRET,
// so a token minted by one node (or by `gatehouse token` against the cluster) is accepted by every node.
// With JWKS_URL set, Gatehouse does not use it: only the external provider's tokens are accepted.
import { createPublicKey, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import type { SharedSigningKeys } from "../store/shared/signing-keys";

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
  return issuerWith({ key, kid: privateJwk.kid!, alg: "RS256", publicJwk: { ...pub, use: "sig" } }, issuer, audience);
}

/** The development issuer of a cluster: the shared store's active `dev-issuer` key (the first node makes it). */
export async function loadSharedDevIssuer(
  keys: SharedSigningKeys,
  issuer: string,
  audience: string,
): Promise<DevIssuer> {
  const { kid, privateKey } = await keys.activeKey();
  const pub = (await exportJWK(createPublicKey(privateKey))) as JWK;
  const publicJwk: JWK = { ...pub, kid, alg: "EdDSA", use: "sig" };
  return issuerWith({ key: privateKey, kid, alg: "EdDSA", publicJwk }, issuer, audience);
}

interface IssuerKey {
  key: KeyObject | Awaited<ReturnType<typeof importJWK>>;
  kid: string;
  alg: "RS256" | "EdDSA";
  publicJwk: JWK;
}

function issuerWith({ key, kid, alg, publicJwk }: IssuerKey, issuer: string, audience: string): DevIssuer {
  return {
    issuer,
    audience,
    publicJwk: () => publicJwk,
    async mint({ sub, org, roles = [], ttlSeconds = 3600 }) {
      return new SignJWT({ ...(org ? { org } : {}), roles })
        .setProtectedHeader({ alg, kid, typ: "JWT" })
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
