// Who is calling. Set by the auth middleware from the operation's security in the spec,
// so a handler never parses credentials itself.
export type Principal =
  | { kind: "anonymous" }
  /** An agent or script with an API key (X-API-Key); the key determines its org. */
  | { kind: "api_key"; keyId: string; orgId: string }
  /** A person (operator, IDE user) with a verified JWT. `orgId`/`roles` come from the `org` and `roles` claims. */
  | { kind: "user"; sub: string; orgId?: string | undefined; roles: string[]; exp?: number };

/** Operators may act on an org when their token names it (or is a platform admin). */
export function canActOnOrg(p: Principal, orgId: string): boolean {
  if (p.kind === "api_key") return p.orgId === orgId;
  if (p.kind === "user") return p.orgId === orgId || p.roles.includes("platform_admin");
  return false;
}
