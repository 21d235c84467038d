// jurisdiction_check: the counterparty's ISO 3166-1 alpha-2 jurisdiction against the manifest's allow/block
// lists. Fails closed: with either list configured, an action without `jurisdiction` is denied.
import { defineCheck, deny, pass, skip } from "../policy-check";

export const jurisdictionCheck = defineCheck({
  name: "jurisdiction_check",
  needs: ["manifest"],
  run(input) {
    const { jurisdiction_allowlist: allow, jurisdiction_blocklist: block } = input.manifest.policy ?? {};
    if (!allow && !block) return skip();
    const blocked = (message: string) => deny("JURISDICTION_BLOCKED", message);

    const jurisdiction = input.request.action.jurisdiction?.trim().toUpperCase();
    if (!jurisdiction) return blocked(`Manifest '${input.manifest.uapk_id}' has jurisdiction rules; the action names no jurisdiction`);
    const upper = (list: string[]) => list.map((j) => j.toUpperCase());
    if (block && upper(block).includes(jurisdiction)) return blocked(`Jurisdiction '${jurisdiction}' is blocked`);
    if (allow && !upper(allow).includes(jurisdiction)) return blocked(`Jurisdiction '${jurisdiction}' is not allowed`);
    return pass({ jurisdiction });
  },
});
