// Who a session belongs to: one principal, named by (issuer, org, sub). A `sub` is only unique within its
// issuer and org, so two orgs' users that happen to share a `sub` are different people and never share a
// session. The org is fixed when the session is created and never changes afterwards.
import type { UserClaims } from "../../core/identity/user-tokens";

export interface SessionOwner {
  /** The token's `iss`, when the verifier reported it. */
  issuer?: string;
  sub: string;
  orgId?: string;
}

export function ownerOf(claims: UserClaims): SessionOwner {
  return {
    sub: claims.sub,
    ...(claims.issuer !== undefined ? { issuer: claims.issuer } : {}),
    ...(claims.orgId !== undefined ? { orgId: claims.orgId } : {}),
  };
}

/** The owner a session record names (the store keeps it as three fields). */
export function recordOwner(record: { ownerSub: string; orgId?: string; ownerIssuer?: string }): SessionOwner {
  return {
    sub: record.ownerSub,
    ...(record.orgId !== undefined ? { orgId: record.orgId } : {}),
    ...(record.ownerIssuer !== undefined ? { issuer: record.ownerIssuer } : {}),
  };
}

/** True when `claims` name the principal that owns the session (issuer, org and sub all equal). */
export function isOwner(owner: SessionOwner, claims: UserClaims): boolean {
  return (
    owner.sub === claims.sub &&
    (owner.orgId ?? "") === (claims.orgId ?? "") &&
    (owner.issuer ?? "") === (claims.issuer ?? "")
  );
}

/** True when two owners name the same principal (a session's owner as another node forwarded it). */
export function sameOwner(a: SessionOwner, b: SessionOwner): boolean {
  return a.sub === b.sub && (a.orgId ?? "") === (b.orgId ?? "") && (a.issuer ?? "") === (b.issuer ?? "");
}

/** A stable key for per-principal limits (NUL cannot occur in any of the parts). */
export function principalKey(claims: UserClaims): string {
  return [claims.issuer ?? "", claims.orgId ?? "", claims.sub].join("\u0000");
}
