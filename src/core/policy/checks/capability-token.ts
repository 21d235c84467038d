// capability_token: a presented token must verify (EdDSA, our key, aud, exp, nbf, sub = agent, this
// manifest, not revoked). No token: pass (the manifest alone is the ceiling; seed 003 traces a tokenless
// request as `capability_token: pass`), unless the manifest's policy requires one (then DENY).
import { type CheckOutcome, defineCheck, deny, pass, whenReady } from "../policy-check";
import type { TokenVerification } from "../tokens/capability-tokens";

export const capabilityTokenCheck = defineCheck({
  name: "capability_token",
  needs: ["manifest"],
  provides: ["token"],
  run(input, deps) {
    const token = input.request.capability_token;
    if (token === undefined || token === "") {
      if (input.manifest.policy?.require_capability_token)
        return deny("INVALID_TOKEN", `Manifest '${input.request.uapk_id}' requires a capability token`);
      return pass({ reason: "no token presented" });
    }
    const verified = deps.tokens.verify(token, {
      orgId: input.orgId,
      agentId: input.request.agent_id,
      uapkId: input.request.uapk_id,
    });
    return whenReady(verified, outcomeOf);
  },
});

function outcomeOf(verified: TokenVerification): CheckOutcome<"token"> {
  if (!verified.ok) return deny(verified.code, verified.message);
  return {
    kind: "continue",
    result: "pass",
    details: { token_id: verified.claims.jti },
    facts: { token: verified.claims },
  };
}
