// Purutos belong to one org (GATEHOUSE_PURUTO_ORG, else the default org): the local repositories and commands
// of this machine are that org's, and another org's API key — however valid — may neither list nor run them.
// Decided before any lookup, so the answer says nothing about which purutos exist.
import type { Principal } from "../../core/identity/principal";
import { HttpProblem } from "../../http/problem";

export function assertPurutoOrg(principal: Principal, org: string | undefined): void {
  if (org === undefined) return;
  const callerOrg =
    principal.kind === "api_key" ? principal.orgId : principal.kind === "user" ? principal.orgId : undefined;
  if (callerOrg === org) return;
  throw new HttpProblem(403, "This API key's org has no access to the purutos of this gateway", {
    code: "ORG_FORBIDDEN",
  });
}
