// tool_authorization: `type:tool` must be a capability of the manifest with a configured connector (the
// ceiling) using nothing of the gateway's own that belongs to another org (its purutos, secrets, private network:
// ../gateway-resources.ts; the same rule as GET/POST /purutos), and — when a token was
// presented — one of the token's capabilities (the session scope). Once the tool is known, it extracts what the
// tool's connector will receive (../extract.ts) for the content checks.
import { clipped } from "../clip";
import { extractActionFacts } from "../extract";
import { foreignResourceOf } from "../gateway-resources";
import { defineCheck, deny } from "../policy-check";

export const toolAuthorizationCheck = defineCheck({
  name: "tool_authorization",
  needs: ["manifest"],
  reads: ["token"],
  provides: ["actionFacts"],
  run(input, deps) {
    const cap = input.capability;
    const manifest = input.manifest;
    const connector = manifest.tools[cap]?.connector;
    if (!manifest.capabilities.includes(cap) || !connector)
      return deny("TOOL_NOT_AUTHORIZED", `Tool '${clipped(cap)}' is not in manifest '${manifest.uapk_id}'`);
    const foreign = foreignResourceOf(connector, deps.resourceOrgs, input.orgId);
    if (foreign)
      return deny("TOOL_NOT_AUTHORIZED", `Tool '${clipped(cap)}' would use ${foreign}, which belong to another org`);
    if (input.token && !input.token.cap.includes(cap)) return deny("CAPABILITY_MISSING", `${cap} not in token`);
    const actionFacts = extractActionFacts(input.request.action, manifest.tools[cap]);
    return { kind: "continue", result: "pass", details: { connector: connector.type }, facts: { actionFacts } };
  },
});
