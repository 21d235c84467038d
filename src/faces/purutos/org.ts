// Purutos belong to one org (GATEHOUSE_PURUTO_ORG, else the default org): the local repositories and commands
// of this machine are that org's, and another org's API key — however valid — may neither list nor run them.
// Decided before any lookup and before the request is read or validated (a guard of the router, and the first
// step of /mcp/purutos), so the answer says nothing about which purutos or commands exist, nor what a valid
// payload looks like: another org gets 403, never 400 or 404.
import type { Principal } from "../../core/identity/principal";
import type { RouteGuard } from "../../http/boundary/guard";
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

/** Every operation of the face (list, get, invoke): `org` undefined = any authenticated key. */
export function purutosGuard(org: string | undefined): RouteGuard {
  return {
    appliesTo: (op) => op.operationId.startsWith("Purutos_"),
    check: (principal) => assertPurutoOrg(principal, org),
  };
}
