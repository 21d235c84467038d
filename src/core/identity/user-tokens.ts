// Verifies people's JWTs (IDE users on the session socket, operators on REST) against a JWKS.
// Remote JWKS (JWKS_URL): jose refetches on an unknown `kid` (30 s cooldown) and keeps keys `cacheMaxAge`;
// when the IdP is down at refresh time we keep verifying with the last good keys instead of locking
// everybody out. Embedded default (`localJwks`): Gatehouse is its own issuer.
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import { Counter } from "prom-client";
import { registry } from "../metrics/registry";

export interface UserClaims {
  sub: string;
  /** The token's `iss` (a `sub` is only unique within its issuer). */
  issuer?: string;
  orgId?: string;
  roles: string[];
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/** Bounded set of reasons (used as a metric label by callers). */
export type UserTokenFailure =
  | "expired"
  | "malformed"
  | "missing_kid"
  | "alg_not_allowed"
  | "unknown_kid"
  | "bad_signature"
  | "claim_invalid"
  | "not_access_token"
  | "jwks_unavailable";

export class UserTokenError extends Error {
  readonly code: "TOKEN_EXPIRED" | "TOKEN_INVALID";
  constructor(
    readonly reason: UserTokenFailure,
    message: string,
  ) {
    super(message);
    this.name = "UserTokenError";
    this.code = reason === "expired" ? "TOKEN_EXPIRED" : "TOKEN_INVALID";
  }
}

export type UserTokenVerifier = (token: string) => Promise<UserClaims>;

export interface UserTokenVerifierOptions {
  /** External IdP's JWKS (the seed's JWKS_URL). */
  jwksUrl?: string | undefined;
  /** Embedded default: the dev issuer's public keys, read on every verification so rotation is picked up. */
  localJwks?: (() => JSONWebKeySet) | undefined;
  issuer: string;
  audience: string;
  /** How long fetched keys count as fresh (JWKS_CACHE_TTL seconds × 1000). */
  cacheMaxAgeMs: number;
  /** Minimum gap between refetches triggered by an unknown kid. */
  cooldownMs?: number;
  /** JWKS HTTP timeout. */
  fetchTimeoutMs?: number;
}

/** Asymmetric algorithms only: HS256 would let anyone holding the JWKS forge tokens; `none` is never valid. */
export const ALLOWED_USER_TOKEN_ALGS = ["RS256", "ES256", "EdDSA"];

const jwksFetches = new Counter({
  name: "gatehouse_jwks_fetches_total",
  help: "JWKS fetches from the identity provider, by result",
  labelNames: ["result"] as const,
  registers: [registry],
});

export function createUserTokenVerifier(opts: UserTokenVerifierOptions): UserTokenVerifier {
  const getKey = opts.jwksUrl ? remoteKeys(opts) : localKeys(opts);

  return async (token: string) => {
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new UserTokenError("malformed", "Malformed JWT");
    }
    if (!header.alg || !ALLOWED_USER_TOKEN_ALGS.includes(header.alg)) {
      throw new UserTokenError("alg_not_allowed", `JWT algorithm ${header.alg ?? "(none)"} is not accepted`);
    }
    if (!header.kid) throw new UserTokenError("missing_kid", "JWT header has no kid");

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: opts.issuer,
        audience: opts.audience,
        algorithms: ALLOWED_USER_TOKEN_ALGS,
        requiredClaims: ["sub", "exp"],
        // For `nbf`: an identity provider's clock a little ahead must not make its fresh tokens fail for a while.
        // jose applies the same tolerance to `exp`, which assertNotExpired below judges again without it.
        clockTolerance: CLOCK_SKEW_SECONDS,
      }));
    } catch (err) {
      throw toUserTokenError(err);
    }
    assertNotExpired(payload);
    assertIssuedInThePast(payload);
    assertAccessToken(header.typ, payload);
    return claimsOf(payload);
  };
}

/**
 * How far ahead of this node's clock an `iat` or `nbf` may be: an identity provider's clock a little ahead is not an
 * attack, and providers that omit `nbf` (many do) are judged by `iat` alone.
 */
export const CLOCK_SKEW_SECONDS = 60;

/**
 * `exp` gets no tolerance: a skewed clock may delay when a token starts to count, never stretch how long a token
 * lives past what its issuer said (a revoked person's last token would live a minute longer).
 */
function assertNotExpired(payload: JWTPayload): void {
  if (typeof payload.exp === "number" && payload.exp <= Date.now() / 1000) {
    throw new UserTokenError("expired", "JWT token has expired");
  }
}

/**
 * jose checks `iat` only when asked for a maximum token age: a token "issued" next week passed, and lived as long as
 * its `exp` said from a date that had not come. A non-numeric `iat` jose already refuses.
 */
function assertIssuedInThePast(payload: JWTPayload): void {
  const nowSeconds = Date.now() / 1000;
  if (typeof payload.iat === "number" && payload.iat > nowSeconds + CLOCK_SKEW_SECONDS) {
    throw new UserTokenError("claim_invalid", "JWT iat claim is in the future");
  }
}

/**
 * An ID token says who signed in to a client; it is not a credential for an API, even when its `aud` is the API's
 * audience (a console whose client id is that audience, an ID token forwarded by another client). Both are signed by
 * the same provider with the same keys, so the signature cannot tell them apart; the token's type can:
 * - `typ: at+jwt` (RFC 9068 §2.1, made for exactly this confusion) is an access token;
 * - any other explicit type (`id_token`, `logout+jwt`, `secevent+jwt`, `dpop+jwt`…) is something else;
 * - plain `JWT` or no `typ` (most providers' access tokens, and the built-in issuer's) is an access token unless it
 *   carries a claim OpenID Connect defines for ID tokens alone: `nonce` (echoes the authentication request),
 *   `at_hash`, `c_hash`, `s_hash` (bind the ID token to the tokens issued beside it). The console always sends a
 *   nonce, so every ID token it receives carries one.
 * One exception: older Keycloak versions also copied the `nonce` into their access tokens (keycloak#26893, fixed in
 * 2024); those say `typ: "Bearer"` in their payload (its ID tokens say "ID") and are accepted with it.
 * Checked after the signature: the refusal names a verified token's kind, never an attacker's header.
 */
const ACCESS_TOKEN_TYPES = new Set(["at+jwt", "application/at+jwt"]);
const LEGACY_TOKEN_TYPES = new Set([undefined, "jwt", "application/jwt"]);
const ID_TOKEN_CLAIMS = ["nonce", "at_hash", "c_hash", "s_hash"] as const;

function assertAccessToken(typ: unknown, payload: JWTPayload): void {
  const type = typeof typ === "string" ? typ.toLowerCase() : typ;
  if (typeof type === "string" && ACCESS_TOKEN_TYPES.has(type)) return;
  if (!LEGACY_TOKEN_TYPES.has(type as string | undefined)) {
    throw new UserTokenError("not_access_token", `JWT typ ${JSON.stringify(typ)} is not an access token`);
  }
  const keycloakAccessToken = payload.typ === "Bearer";
  const idClaim = ID_TOKEN_CLAIMS.find(
    (claim) => payload[claim] !== undefined && !(claim === "nonce" && keycloakAccessToken),
  );
  // Keycloak says `typ: "ID"` in an ID token's payload, AWS Cognito `token_use: "id"` (its access tokens: "access").
  const marker = payload.typ === "ID" ? 'typ "ID"' : payload.token_use === "id" ? 'token_use "id"' : undefined;
  if (idClaim !== undefined || marker !== undefined) {
    throw new UserTokenError(
      "not_access_token",
      `JWT is an ID token (it carries ${idClaim ?? marker}), not an access token`,
    );
  }
}

function claimsOf(payload: JWTPayload): UserClaims {
  if (typeof payload.sub !== "string" || payload.sub === "") {
    throw new UserTokenError("claim_invalid", "JWT sub claim must be a non-empty string");
  }
  // A sub of spaces names nobody: approvals would be decided, and records signed, by no one anyone can name.
  if (isBlankName(payload.sub))
    throw new UserTokenError("claim_invalid", "JWT sub claim is blank: it must name the user");
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : [];
  const org = payload.org;
  // An org named some other way (["acme"], {id: "acme"}) is not "no org": read so, the user would act in the
  // default org (sessions fall back to it). Absent, null or "" is a user without an org.
  if (org !== undefined && org !== null && typeof org !== "string") {
    throw new UserTokenError("claim_invalid", "JWT org claim must be a string");
  }
  // Nor is an org of spaces: read as given, its user would act in an org named "  " that nobody can tell apart.
  if (typeof org === "string" && org !== "" && isBlankName(org))
    throw new UserTokenError("claim_invalid", "JWT org claim is blank: it must name the org, or be absent");
  for (const [name, value] of [
    ["sub", payload.sub],
    ["org", org],
  ] as const)
    if (typeof value === "string" && !isIdentityText(value))
      throw new UserTokenError(
        "claim_invalid",
        `JWT ${name} claim holds a control character (C0 or C1) or ill-formed Unicode`,
      );
  return {
    sub: payload.sub,
    ...(typeof payload.iss === "string" ? { issuer: payload.iss } : {}),
    ...(typeof org === "string" && org !== "" ? { orgId: org } : {}),
    roles,
    exp: payload.exp!,
  };
}

/**
 * Whether a name shows nothing: only white space (spaces, the ideographic space…) and characters that are invisible
 * by definition (Unicode's Default_Ignorable_Code_Point: zero-width spaces and joiners, the Hangul fillers…). The
 * same rule for a token's `sub` here and for `gatehouse token --sub`.
 */
export const isBlankName = (text: string) => BLANK_NAME.test(text);
const BLANK_NAME = /^[\s\p{Default_Ignorable_Code_Point}]*$/u;

/**
 * Whether a claim can name a person or an org as it is: no control character and no lone surrogate. A store keeps
 * U+FFFD in a lone surrogate's place, so `op\ud800x` and `op\udc00x` would be recorded as one approver.
 */
// C0 and C1 (U+0080–U+009F) controls: a NEL in a name is a line break to many readers.
const isIdentityText = (text: string) => !NOT_IDENTITY_TEXT.test(text);
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this regex's purpose
const NOT_IDENTITY_TEXT = /[\u0000-\u001f\u007f-\u009f]|\p{Surrogate}/u;

function toUserTokenError(err: unknown): UserTokenError {
  if (err instanceof UserTokenError) return err;
  if (err instanceof errors.JWTExpired) return new UserTokenError("expired", "JWT token has expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    return new UserTokenError("claim_invalid", `JWT claim ${err.claim} is invalid: ${err.reason}`);
  }
  if (err instanceof errors.JWKSNoMatchingKey) return new UserTokenError("unknown_kid", "No key matches the JWT kid");
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new UserTokenError("bad_signature", "JWT signature verification failed");
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new UserTokenError("alg_not_allowed", err.message);
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) {
    return new UserTokenError("malformed", "Malformed JWT");
  }
  if (err instanceof JwksUnavailable) return new UserTokenError("jwks_unavailable", err.message);
  return new UserTokenError("malformed", err instanceof Error ? err.message : "Invalid JWT");
}

class JwksUnavailable extends Error {}

function localKeys(opts: UserTokenVerifierOptions): JWTVerifyGetKey {
  if (!opts.localJwks) throw new Error("createUserTokenVerifier needs jwksUrl or localJwks");
  const readKeys = opts.localJwks;
  return (header, token) => createLocalJWKSet(readKeys())(header, token);
}

function remoteKeys(opts: UserTokenVerifierOptions): JWTVerifyGetKey {
  const countingFetch: FetchImplementation = async (url, init) => {
    try {
      const res = await fetch(url, init);
      jwksFetches.inc({ result: res.status === 200 ? "ok" : "http_error" });
      return res;
    } catch (err) {
      jwksFetches.inc({ result: "network_error" });
      throw err;
    }
  };
  const remote = createRemoteJWKSet(new URL(opts.jwksUrl!), {
    cacheMaxAge: opts.cacheMaxAgeMs,
    cooldownDuration: opts.cooldownMs ?? 30_000,
    timeoutDuration: opts.fetchTimeoutMs ?? 5_000,
    [customFetch]: countingFetch,
  });

  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      // Key lookup answers (unknown kid, wrong key type) are verdicts, not outages.
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      if (err instanceof errors.JOSENotSupported) throw err;
      // The refresh failed (IdP down, timeout, bad answer): serve the keys we already have, if any.
      const stale = remote.jwks();
      if (stale) return createLocalJWKSet(stale)(header, token);
      throw new JwksUnavailable(`JWKS unavailable: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}
