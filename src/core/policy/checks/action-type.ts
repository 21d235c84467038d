// action_type: the action's category must appear in at least one capability of the manifest.
import { defineCheck, deny, pass } from "../policy-check";

export const actionTypeCheck = defineCheck({
  name: "action_type",
  needs: ["manifest"],
  run(input) {
    const type = input.request.action.type;
    const allowed = input.manifest.capabilities.some((cap) => cap.split(":")[0] === type);
    if (!allowed) return deny("ACTION_NOT_ALLOWED", `Action type '${type}' is not permitted`);
    return pass();
  },
});
