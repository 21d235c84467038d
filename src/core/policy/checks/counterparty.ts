// counterparty_check: the manifest's counterparty allow/block lists, the token's `allowed_recipients`, and
// NEW_COUNTERPARTY escalation. Fails closed: a list or new-counterparty rule with no `action.counterparty`
// is a DENY (the original let it pass).
import { matchesAnyGlob } from "../glob";
import { defineCheck, deny, escalate, pass, skip } from "../policy-check";

/** Who the action reaches: `counterparty` and the usual recipient params (`to`, `cc`, `bcc`). */
function recipientsOf(action: { counterparty?: string; params: Record<string, unknown> }): string[] {
  const found: string[] = [];
  if (action.counterparty) found.push(action.counterparty);
  for (const key of ["to", "cc", "bcc"]) {
    const value = action.params[key];
    if (typeof value === "string") found.push(...value.split(",").map((v) => v.trim()).filter(Boolean));
    else if (Array.isArray(value)) found.push(...value.filter((v): v is string => typeof v === "string"));
  }
  return found;
}

export const counterpartyCheck = defineCheck({
  name: "counterparty_check",
  needs: ["manifest"],
  reads: ["token"],
  async run(input, deps) {
    const policy = input.manifest.policy ?? {};
    const action = input.request.action;
    const counterparty = action.counterparty?.trim();
    const blocked = (message: string, details?: Record<string, unknown>) => deny("COUNTERPARTY_BLOCKED", message, details);
    let ruleApplied = false;

    const allowedRecipients = input.token?.constraints?.allowed_recipients;
    if (allowedRecipients) {
      ruleApplied = true;
      const outside = recipientsOf(action).filter((r) => !matchesAnyGlob(r, allowedRecipients));
      if (outside.length > 0)
        return blocked(`Recipient ${outside.join(", ")} is not allowed by the capability token`, { recipients: outside });
    }

    const needsCounterparty =
      policy.counterparty_allowlist !== undefined ||
      policy.counterparty_blocklist !== undefined ||
      policy.escalate_new_counterparties === true;
    if (!needsCounterparty) return ruleApplied ? pass() : skip();
    if (!counterparty) return blocked(`Manifest '${input.manifest.uapk_id}' has counterparty rules; the action names no counterparty`);

    if (policy.counterparty_blocklist && matchesAnyGlob(counterparty, policy.counterparty_blocklist))
      return blocked(`Counterparty '${counterparty}' is on the blocklist`, { counterparty });
    if (policy.counterparty_allowlist && !matchesAnyGlob(counterparty, policy.counterparty_allowlist))
      return blocked(`Counterparty '${counterparty}' is not on the allowlist`, { counterparty });

    if (policy.escalate_new_counterparties && !(await deps.counterparties.isKnown(input.orgId, input.request.uapk_id, counterparty)))
      return escalate([{ code: "NEW_COUNTERPARTY", message: `First interaction with counterparty '${counterparty}'` }], {
        counterparty,
      });
    return pass({ counterparty });
  },
});
