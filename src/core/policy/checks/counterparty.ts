// counterparty_check: the manifest's counterparty allow/block lists, the token's `allowed_recipients`, and
// NEW_COUNTERPARTY escalation. Fails closed: a list or new-counterparty rule with no `action.counterparty`
// is a DENY (the original let it pass).
import { matchesAnyGlob } from "../glob";
import { deny } from "../deny";
import type { PolicyCheck } from "../pipeline";

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

export const counterpartyCheck: PolicyCheck = {
  name: "counterparty_check",
  run(ctx, deps) {
    const policy = ctx.manifest!.policy ?? {};
    const action = ctx.request.action;
    const counterparty = action.counterparty?.trim();
    const blocked = (message: string, details?: Record<string, unknown>) => deny("COUNTERPARTY_BLOCKED", message, details);
    let ruleApplied = false;

    const allowedRecipients = ctx.token?.constraints?.allowed_recipients;
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
    if (!needsCounterparty) return { result: ruleApplied ? "pass" : "skip" };
    if (!counterparty) return blocked(`Manifest '${ctx.manifest!.uapk_id}' has counterparty rules; the action names no counterparty`);

    if (policy.counterparty_blocklist && matchesAnyGlob(counterparty, policy.counterparty_blocklist))
      return blocked(`Counterparty '${counterparty}' is on the blocklist`, { counterparty });
    if (policy.counterparty_allowlist && !matchesAnyGlob(counterparty, policy.counterparty_allowlist))
      return blocked(`Counterparty '${counterparty}' is not on the allowlist`, { counterparty });

    if (policy.escalate_new_counterparties && !deps.counterparties.isKnown(ctx.orgId, ctx.request.uapk_id, counterparty))
      return {
        result: "escalate",
        reasons: [{ code: "NEW_COUNTERPARTY", message: `First interaction with counterparty '${counterparty}'` }],
        details: { counterparty },
      };
    return { result: "pass", details: { counterparty } };
  },
};
