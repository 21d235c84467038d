// action_type: the action's category must appear in at least one capability of the manifest.
import { clipped } from "../clip";
import { perList } from "../list-cache";
import { defineCheck, deny, pass } from "../policy-check";

export const actionTypeCheck = defineCheck({
  name: "action_type",
  needs: ["manifest"],
  run(input) {
    const type = input.request.action.type;
    if (!actionTypesOf(input.manifest.capabilities).has(type))
      return deny("ACTION_NOT_ALLOWED", `Action type '${clipped(type)}' is not permitted`);
    return pass();
  },
});

// The action types a manifest's capabilities name (`email` of `email:send`), once per manifest (../list-cache.ts).
const actionTypesOf = perList((capabilities) => new Set(capabilities.map((cap) => cap.split(":")[0])));
