// jurisdiction_check: the counterparty's ISO 3166-1 alpha-2 jurisdiction against the manifest's allow/block
// lists. Fails closed: with either list configured, an action without `jurisdiction` is denied.
import { deny } from "../deny";
import type { PolicyCheck } from "../pipeline";

export const jurisdictionCheck: PolicyCheck = {
  name: "jurisdiction_check",
  run(ctx) {
    const { jurisdiction_allowlist: allow, jurisdiction_blocklist: block } = ctx.manifest!.policy ?? {};
    if (!allow && !block) return { result: "skip" };
    const blocked = (message: string) => deny("JURISDICTION_BLOCKED", message);

    const jurisdiction = ctx.request.action.jurisdiction?.trim().toUpperCase();
    if (!jurisdiction) return blocked(`Manifest '${ctx.manifest!.uapk_id}' has jurisdiction rules; the action names no jurisdiction`);
    const upper = (list: string[]) => list.map((j) => j.toUpperCase());
    if (block && upper(block).includes(jurisdiction)) return blocked(`Jurisdiction '${jurisdiction}' is blocked`);
    if (allow && !upper(allow).includes(jurisdiction)) return blocked(`Jurisdiction '${jurisdiction}' is not allowed`);
    return { result: "pass", details: { jurisdiction } };
  },
};
