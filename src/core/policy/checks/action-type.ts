// action_type: the action's category must appear in at least one capability of the manifest.
import type { PolicyCheck } from "../pipeline";

export const actionTypeCheck: PolicyCheck = {
  name: "action_type",
  run(ctx) {
    const type = ctx.request.action.type;
    const allowed = ctx.manifest!.capabilities.some((cap) => cap.split(":")[0] === type);
    if (!allowed)
      return { result: "fail", reasons: [{ code: "ACTION_NOT_ALLOWED", message: `Action type '${type}' is not permitted` }] };
    return { result: "pass" };
  },
};
