// capability_token: a presented token must verify (EdDSA, our key, aud, exp, nbf, sub = agent, this
// manifest, not revoked). No token: pass (the manifest alone is the ceiling; seed 003 traces a tokenless
// request as `capability_token: pass`), unless the manifest's policy requires one (then DENY).
import type { PolicyCheck } from "../pipeline";

export const capabilityTokenCheck: PolicyCheck = {
  name: "capability_token",
  async run(ctx, deps) {
    const token = ctx.request.capability_token;
    if (token === undefined || token === "") {
      if (ctx.manifest?.policy?.require_capability_token)
        return {
          result: "fail",
          reasons: [{ code: "INVALID_TOKEN", message: `Manifest '${ctx.request.uapk_id}' requires a capability token` }],
        };
      return { result: "pass", details: { reason: "no token presented" } };
    }
    const verified = await deps.tokens.verify(token, {
      orgId: ctx.orgId,
      agentId: ctx.request.agent_id,
      uapkId: ctx.request.uapk_id,
    });
    if (!verified.ok) return { result: "fail", reasons: [{ code: verified.code, message: verified.message }] };
    ctx.token = verified.claims;
    return { result: "pass", details: { token_id: verified.claims.jti } };
  },
};
