// jurisdiction_check: the manifest's jurisdiction allow/block lists, applied to EVERY jurisdiction the action
// carries (`action.jurisdiction` and the params `jurisdiction`, `country`, `country_code` and their compounds such as
// `beneficiary_country` or `country_iso_code`, ISO 20022's `Ctry`, a country `regionCode`, the country of an IBAN or
// a BIC, of a valid IBAN under any key; ../extract.ts), each
// normalised to ISO 3166-1 alpha-2 (../jurisdictions.ts), as are the lists. Fails closed: with either list, an
// action naming no jurisdiction, or one that is no ISO 3166-1 country, is denied.
import { normalizeJurisdiction } from "../jurisdictions";
import { perList } from "../list-cache";
import { defineCheck, deny, pass, skip } from "../policy-check";

export const jurisdictionCheck = defineCheck({
  name: "jurisdiction_check",
  needs: ["manifest", "actionFacts"],
  run(input) {
    const { jurisdiction_allowlist: allow, jurisdiction_blocklist: block } = input.manifest.policy ?? {};
    if (!allow && !block) return skip();
    const blocked = (message: string, details?: Record<string, unknown>) =>
      deny("JURISDICTION_BLOCKED", message, details);

    const facts = input.actionFacts;
    if (facts.incomplete) return blocked(`Jurisdictions cannot be checked: ${facts.incomplete}`);
    // An empty value is not "no jurisdiction": something downstream may read it; it is unknown, so refused below.
    const found = facts.jurisdictions;
    if (found.length === 0)
      return blocked(`Manifest '${input.manifest.uapk_id}' has jurisdiction rules; the action names no jurisdiction`);

    const codes: string[] = [];
    for (const { source, value } of found) {
      const code = normalizeJurisdiction(value);
      if (!code) return blocked(`Jurisdiction at ${source} is not an ISO 3166-1 country`, { source });
      codes.push(code);
    }
    // Each code once (at most the 249 countries), however many params repeat it: reasons and details are stored
    // in the signed audit record and the answer.
    const distinct = [...new Set(codes)];
    const blockedCodes = block ? distinct.filter((c) => listed(block).has(c)) : [];
    if (blockedCodes.length > 0)
      return blocked(`Jurisdiction '${blockedCodes.join("', '")}' is blocked`, { jurisdictions: distinct });
    const outside = allow ? distinct.filter((c) => !listed(allow).has(c)) : [];
    if (outside.length > 0)
      return blocked(`Jurisdiction '${outside.join("', '")}' is not allowed`, { jurisdictions: distinct });
    return pass({ jurisdiction: codes[0], jurisdictions: distinct });
  },
});

// A list's codes, normalised as the action's are (an unknown entry stays unknown: `?entry` matches no code).
// Derived once per manifest list (../list-cache.ts), not once per code of every decision.
const listed = perList((list) => new Set(list.map((j) => normalizeJurisdiction(j) ?? `?${j}`)));
