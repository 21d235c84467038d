// Org scoping of the operator API: an operator (a person with a verified JWT) may read and decide only in the
// org their token names, unless they are a platform admin. The HTTP layer has already authenticated the
// caller from the operation's security; which org the call touches is the handler's business.
import { canActOnOrg, type Principal } from "../../core/identity/principal";
import type { RouteGuard } from "./guard";
import { HttpProblem } from "./problem";

/**
 * Roles that may use the operator API (decide approvals, register manifests, issue capability tokens, read the
 * audit log). A token of the same org with another role — e.g. the IDE user's `developer` token — must not
 * approve its own agent's escalations or widen its own manifest.
 */
export const OPERATOR_ROLES: readonly string[] = ["operator", "platform_admin"];

/** Returns the operator's `sub` (who decided) when they may act on `orgId`; 403 problem otherwise. */
export function requireOperatorOf(principal: Principal, orgId: string): string {
  if (principal.kind !== "user" || !canActOnOrg(principal, orgId)) {
    throw new HttpProblem(403, `Not allowed to act on organization ${orgId}`, { code: "ORG_FORBIDDEN" });
  }
  if (!principal.roles.some((role) => OPERATOR_ROLES.includes(role))) {
    throw new HttpProblem(
      403,
      `This operation needs the role ${OPERATOR_ROLES.join(" or ")}; the token's roles: ${principal.roles.join(", ") || "none"}`,
      {
        code: "OPERATOR_ROLE_REQUIRED",
      },
    );
  }
  return principal.sub;
}

/** The org of the agent calling with its API key: an agent only ever sees its own org's approvals. */
export function agentOrgOf(principal: Principal): string {
  if (principal.kind !== "api_key") {
    throw new HttpProblem(403, "This operation is for agents calling with their API key", { code: "API_KEY_REQUIRED" });
  }
  return principal.orgId;
}

/** Every operation under this prefix is an operator's, scoped to the org in its path. */
const ORG_ROUTE = "/api/v1/orgs/{org_id}";

/** Whether `op` is an operator's org route (under /api/v1/orgs/{org_id}). */
export function isOrgRoute(op: { path: string }): boolean {
  return op.path === ORG_ROUTE || op.path.startsWith(`${ORG_ROUTE}/`);
}

/** The org routes' guard: an operator of the path's org, checked before anything of the request is validated. */
export const orgRouteGuard: RouteGuard = {
  appliesTo: isOrgRoute,
  check: (principal, params) => void requireOperatorOf(principal, String(params.org_id ?? "")),
};
