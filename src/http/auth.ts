// Authentication from the operation's `security` in the spec. Handlers receive a Principal and never parse
// credentials. The seed's behaviour, hardened: no key configured → 503 (checked first); missing or wrong
// key → 401; the comparison is a keyed hash (constant time for environment keys).
import type { Context } from "koa";
import type { ApiKeyStore } from "../core/identity/api-keys";
import type { Principal } from "../core/identity/principal";
import type { UserTokenVerifier } from "../core/identity/user-tokens";
import { HttpProblem } from "./problem";
import type { SecurityScheme } from "./spec";

export type VerifyUserToken = UserTokenVerifier;

export interface Authenticator {
  authenticate(ctx: Context, schemes: SecurityScheme[]): Promise<Principal>;
}

const BEARER = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i;

export function createAuthenticator(apiKeys: ApiKeyStore, verifyUserToken: VerifyUserToken): Authenticator {
  function apiKey(ctx: Context): Principal {
    if (!apiKeys.configured) {
      throw new HttpProblem(503, "PURUTO_GATEWAY_API_KEY is not configured", { code: "API_KEY_NOT_CONFIGURED" });
    }
    const presented = ctx.get("X-API-Key");
    const identity = presented ? apiKeys.verify(presented) : undefined;
    if (!identity) throw new HttpProblem(401, "Invalid or missing API key", { code: "UNAUTHORIZED" });
    return { kind: "api_key", ...identity };
  }

  async function bearer(ctx: Context): Promise<Principal> {
    const match = BEARER.exec(ctx.get("Authorization"));
    const challenge = { "WWW-Authenticate": 'Bearer realm="gatehouse"' };
    if (!match) {
      throw new HttpProblem(401, "Missing or malformed bearer token", { code: "UNAUTHORIZED", headers: challenge });
    }
    try {
      const claims = await verifyUserToken(match[1]);
      return { kind: "user", sub: claims.sub, orgId: claims.orgId, roles: claims.roles, exp: claims.exp };
    } catch (err) {
      const code = (err as { code?: string }).code === "TOKEN_EXPIRED" ? "TOKEN_EXPIRED" : "TOKEN_INVALID";
      const detail = code === "TOKEN_EXPIRED" ? "JWT token has expired" : "Invalid JWT token";
      throw new HttpProblem(401, detail, { code, headers: challenge });
    }
  }

  return {
    async authenticate(ctx, schemes) {
      if (schemes.length === 0) return { kind: "anonymous" };
      // With alternatives, use the credential the caller presented; with none, answer as for the API key.
      const hasBearer = Boolean(ctx.get("Authorization"));
      if (schemes.includes("BearerAuth") && (hasBearer || !schemes.includes("ApiKeyAuth"))) return bearer(ctx);
      return apiKey(ctx);
    },
  };
}
