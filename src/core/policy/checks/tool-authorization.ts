// tool_authorization: `type:tool` must be a capability of the manifest with a configured connector (the
// ceiling), and — when a token was presented — one of the token's capabilities (the session scope).
import type { PolicyCheck } from "../pipeline";

export const toolAuthorizationCheck: PolicyCheck = {
  name: "tool_authorization",
  run(ctx) {
    const cap = ctx.capability;
    const manifest = ctx.manifest!;
    if (!manifest.capabilities.includes(cap) || !manifest.tools[cap]?.connector)
      return {
        result: "fail",
        reasons: [{ code: "TOOL_NOT_AUTHORIZED", message: `Tool '${cap}' is not in manifest '${manifest.uapk_id}'` }],
      };
    if (ctx.token && !ctx.token.cap.includes(cap))
      return { result: "fail", reasons: [{ code: "CAPABILITY_MISSING", message: `${cap} not in token` }] };
    return { result: "pass", details: { connector: manifest.tools[cap].connector.type } };
  },
};
