// The one bearer parser (RFC 6750) and the one mapping of token failures to problems, for REST and the
// WebSocket upgrade alike.
import { HttpProblem, problem } from "./problem";

/** RFC 6750 `b64token`; surrounding whitespace is tolerated. */
const BEARER = /^\s*Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i;

/** The token of an `Authorization: Bearer <token>` value; undefined when absent or malformed. */
export function parseBearer(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  return BEARER.exec(authorization)?.[1];
}

/** RFC 6750 §3: no error attribute when no credentials were presented at all. */
export function bearerChallenge(invalidToken: boolean): Record<string, string> {
  return {
    "WWW-Authenticate": invalidToken ? 'Bearer realm="gatehouse", error="invalid_token"' : 'Bearer realm="gatehouse"',
  };
}

export const NOT_AN_ACCESS_TOKEN =
  "Not an access token (an ID token, or another kind of JWT): present the identity provider's access token for this API";

/** No usable bearer credential: 401 UNAUTHORIZED with a challenge. */
export function missingBearer(detail = "Missing or malformed bearer token"): HttpProblem {
  return problem("UNAUTHORIZED", detail, { headers: bearerChallenge(false) });
}

/**
 * What a token verifier threw, as a problem: the identity provider being unreachable is a 503 (retry later),
 * an expired token TOKEN_EXPIRED, anything else TOKEN_INVALID (no verifier internals are returned). An ID token
 * (or another kind of JWT) presented as a bearer is named: its holder did nothing wrong but pick the wrong one of the provider's tokens.
 * So is a signed token's refused claim (a blank `sub`, a wrong `aud`): its holder can take it to the issuer.
 */
export function tokenProblem(err: unknown): HttpProblem {
  const e = err as { code?: string; reason?: string } | undefined;
  if (e?.reason === "jwks_unavailable") {
    return new HttpProblem(503, "Cannot verify tokens right now (identity provider unreachable)", {
      code: "UNAUTHORIZED",
      headers: { "Retry-After": "30" },
    });
  }
  if (e?.code === "TOKEN_EXPIRED")
    return problem("TOKEN_EXPIRED", "JWT token has expired", { headers: bearerChallenge(true) });
  if (e?.reason === "not_access_token")
    return problem("TOKEN_INVALID", NOT_AN_ACCESS_TOKEN, { headers: bearerChallenge(true) });
  // A signed token whose claims are refused (a blank sub, a control character in it): the message says which claim
  // and why, as the agent-session socket does. Claims are checked after the signature: the issuer's words, never an
  // attacker's.
  if (e?.reason === "claim_invalid" && err instanceof Error)
    return problem("TOKEN_INVALID", err.message, { headers: bearerChallenge(true) });
  return problem("TOKEN_INVALID", "Invalid JWT token", { headers: bearerChallenge(true) });
}
