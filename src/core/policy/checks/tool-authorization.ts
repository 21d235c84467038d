// tool_authorization: `type:tool` must be a capability of the manifest with a configured connector (the
// ceiling), and — when a token was presented — one of the token's capabilities (the session scope). Once the
// tool is known, it extracts what the tool's connector will receive (../extract.ts) for the content checks.
import { clipped } from "../clip";
import { extractActionFacts } from "../extract";
import { defineCheck, deny } from "../policy-check";

export const toolAuthorizationCheck = defineCheck({
  name: "tool_authorization",
  needs: ["manifest"],
  reads: ["token"],
  provides: ["actionFacts"],
  run(input) {
    const cap = input.capability;
    const manifest = input.manifest;
    const connector = manifest.tools[cap]?.connector;
    if (!manifest.capabilities.includes(cap) || !connector)
      return deny("TOOL_NOT_AUTHORIZED", `Tool '${clipped(cap)}' is not in manifest '${manifest.uapk_id}'`);
    if (input.token && !input.token.cap.includes(cap)) return deny("CAPABILITY_MISSING", `${cap} not in token`);
    const actionFacts = extractActionFacts(input.request.action, manifest.tools[cap]);
    return { kind: "continue", result: "pass", details: { connector: connector.type }, facts: { actionFacts } };
  },
});
