// Authentication from the operation's `security` in the spec. Handlers receive a Principal and never parse
// credentials. The seed's behaviour, hardened: no key configured → 503 (checked first); missing or wrong
// key → 401; the comparison is a keyed hash (constant time for environment keys).
import type { Context } from "koa";
import type { Principal } from "../core/identity/principal";
import type { UserTokenVerifier } from "../core/identity/user-tokens";
import type { ApiKeysService } from "../core/ports";
import { bearerChallenge, missingBearer, parseBearer, problem, tokenProblem } from "./boundary";
import type { SecurityScheme } from "./spec";

export type VerifyUserToken = UserTokenVerifier;

/** The X-API-Key scheme's challenge (no registered scheme name exists for it: `ApiKey`, naming the header). */
const API_KEY_CHALLENGE = 'ApiKey realm="gatehouse", header="X-API-Key"';

export interface Authenticator {
  authenticate(ctx: Context, schemes: SecurityScheme[]): Promise<Principal>;
}

export function createAuthenticator(apiKeys: ApiKeysService, verifyUserToken: VerifyUserToken): Authenticator {
  /** `orBearer`: the operation also takes a bearer token, so the 401 offers both schemes. */
  async function apiKey(ctx: Context, orBearer: boolean): Promise<Principal> {
    // The embedded store answers both synchronously: awaited only when a promise (each await is a turn of the
    // microtask queue on every request, issue #17).
    const configured = apiKeys.configured;
    if (!(configured instanceof Promise ? await configured : configured)) {
      throw problem("API_KEY_NOT_CONFIGURED", "PURUTO_GATEWAY_API_KEY is not configured");
    }
    const presented = ctx.req.headers["x-api-key"];
    const verified = typeof presented === "string" && presented ? apiKeys.verify(presented) : undefined;
    const identity = verified instanceof Promise ? await verified : verified;
    if (!identity) {
      // RFC 9110 §15.5.2: a 401 carries at least one challenge, which names how to authenticate.
      const challenges = orBearer
        ? `${API_KEY_CHALLENGE}, ${bearerChallenge(false)["WWW-Authenticate"]}`
        : API_KEY_CHALLENGE;
      throw problem("UNAUTHORIZED", "Invalid or missing API key", { headers: { "WWW-Authenticate": challenges } });
    }
    return { kind: "api_key", ...identity };
  }

  async function bearer(ctx: Context): Promise<Principal> {
    const token = parseBearer(ctx.get("Authorization"));
    if (!token) throw missingBearer();
    try {
      const claims = await verifyUserToken(token);
      return { kind: "user", sub: claims.sub, orgId: claims.orgId, roles: claims.roles, exp: claims.exp };
    } catch (err) {
      throw tokenProblem(err);
    }
  }

  return {
    async authenticate(ctx, schemes) {
      if (schemes.length === 0) return { kind: "anonymous" };
      // With alternatives, use the credential the caller presented; with none, answer as for the API key.
      const hasBearer = Boolean(ctx.get("Authorization"));
      if (schemes.includes("BearerAuth") && (hasBearer || !schemes.includes("ApiKeyAuth"))) return bearer(ctx);
      return apiKey(ctx, schemes.includes("BearerAuth"));
    },
  };
}
