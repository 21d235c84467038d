// Capability tokens: Ed25519 JWTs (`alg: EdDSA`, `kid` in the header) that narrow a manifest for one
// session or task. The manifest is the ceiling, the token the session scope; each request is checked
// against both. Unlike the original: every token has `aud`, `nbf`, `exp` (required, never 0), `kid`;
// revocation is per token (jti); keys rotate and old ones stay verify-only.
import { randomBytes, type KeyObject } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT, decodeProtectedHeader, type JWTPayload } from "jose";
import type { CapabilityTokensTable } from "../../store/schema";
import { compiledQuery, paramsOf, sqliteBuilder, sqliteQuery } from "../../store/sqlite-query";
import { listTokensQuery, type TokenListFilter } from "../../store/token-queries";
import type { Db } from "../../store/sqlite";
import { checkPatterns } from "../manifest-validation";
import type { Manifest } from "../types";
import type { SigningKeyStore } from "../../keys";
import type { TokenIssuedInput, TokenRecordInput, TokenRevokedInput } from "../../audit/audit-inputs";
import type { AuditRecord } from "../../audit/record";

export const CAPABILITY_AUDIENCE = "uapk-gateway";
/** The longest token a request may carry (spec/gateway.tsp: `capability_token` is `@maxLength(8192)`). */
export const MAX_TOKEN_CHARS = 8192;
const MAX_LIFETIME_HOURS = 720;
const DEFAULT_LIFETIME_HOURS = 24;

export interface TokenConstraints {
  max_actions?: number;
  allowed_recipients?: string[];
}

/** The claims Gatehouse puts in a capability token. */
export interface CapabilityClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  token_type: "capability";
  cap: string[];
  constraints?: TokenConstraints;
  org_id: string;
  uapk_id: string;
  manifest_id: string;
}

export interface IssueTokenInput {
  orgId: string;
  /** The JWT's `iss`: a label the issuer chooses (e.g. a team or system); it vouches for nobody. */
  issuerId: string;
  /** Who is accountable for the token: the authenticated operator (their `sub`) who issues it. */
  issuedBy: string;
  agentId: string;
  manifest: Manifest;
  capabilities: string[];
  expiresInHours?: number | undefined;
  constraints?: TokenConstraints | undefined;
}

export interface IssuedToken {
  token_id: string;
  token: string;
  expires_at: string;
  capabilities: string[];
  constraints?: TokenConstraints;
}

export interface TokenInfo {
  token_id: string;
  issuer_id: string;
  /** The operator who issued it (absent on tokens issued before it was recorded). */
  issued_by?: string;
  agent_id: string;
  manifest_id: string;
  uapk_id: string;
  capabilities: string[];
  constraints?: TokenConstraints;
  issued_at: string;
  expires_at: string;
  revoked: boolean;
  revoked_at?: string;
  /** The operator who revoked it (absent while not revoked, and on revocations before it was recorded). */
  revoked_by?: string;
  revoke_reason?: string;
}

export type TokenVerification =
  | { ok: true; claims: CapabilityClaims }
  | { ok: false; code: "INVALID_TOKEN" | "TOKEN_EXPIRED" | "TOKEN_REVOKED"; message: string };

/** A request to issue a token that cannot be honoured; `problems` lists every reason. */
export class TokenIssueError extends Error {
  constructor(readonly problems: { pointer: string; message: string }[]) {
    super(`Cannot issue capability token: ${problems.map((p) => p.message).join("; ")}`);
    this.name = "TokenIssueError";
  }
}

type Row = CapabilityTokensTable;

/** The lifetime in hours of a token that may be issued; throws TokenIssueError listing every problem. */
export function checkIssueRequest(input: IssueTokenInput): number {
  const problems: { pointer: string; message: string }[] = [];
  const { manifest } = input;
  if (manifest.status !== "active")
    problems.push({ pointer: "/manifest_id", message: `manifest '${manifest.uapk_id}' is ${manifest.status}` });
  if (input.agentId !== manifest.agent.id)
    problems.push({
      pointer: "/agent_id",
      message: `agent '${input.agentId}' is not the agent of manifest '${manifest.uapk_id}'`,
    });
  // The manifest is the ceiling: a token may only narrow it.
  input.capabilities.forEach((cap, i) => {
    if (!manifest.capabilities.includes(cap))
      problems.push({ pointer: `/capabilities/${i}`, message: `'${cap}' is not a capability of the manifest` });
  });
  if (input.capabilities.length === 0) problems.push({ pointer: "/capabilities", message: "at least one capability" });
  const hours = input.expiresInHours ?? DEFAULT_LIFETIME_HOURS;
  if (!(Number.isFinite(hours) && hours > 0 && hours <= MAX_LIFETIME_HOURS))
    problems.push({
      pointer: "/expires_in_hours",
      message: `expires_in_hours must be in (0, ${MAX_LIFETIME_HOURS}]`,
    });
  const maxActions = input.constraints?.max_actions;
  if (maxActions !== undefined && !(Number.isInteger(maxActions) && maxActions >= 0))
    problems.push({ pointer: "/constraints/max_actions", message: "max_actions must be a non-negative integer" });
  checkPatterns(input.constraints?.allowed_recipients, "/constraints/allowed_recipients", (pointer, message) =>
    problems.push({ pointer, message }),
  );
  if (problems.length > 0) throw new TokenIssueError(problems);
  return hours;
}

/** A checked request signed as a JWT, with the row that records it (capability_tokens). */
export async function signCapabilityToken(
  input: IssueTokenInput,
  key: { kid: string; privateKey: KeyObject },
  issuedAt: Date,
): Promise<{ issued: IssuedToken; row: Omit<Row, "revoked_at" | "revoke_reason" | "revoked_by"> }> {
  const hours = checkIssueRequest(input);
  const { manifest } = input;
  const iat = Math.floor(issuedAt.getTime() / 1000);
  const exp = iat + Math.round(hours * 3600);
  const tokenId = `tok-${randomBytes(12).toString("base64url")}`;
  const capabilities = [...new Set(input.capabilities)];
  const claims: Omit<CapabilityClaims, "iss" | "sub" | "aud" | "exp" | "nbf" | "iat" | "jti"> = {
    token_type: "capability",
    cap: capabilities,
    ...(input.constraints ? { constraints: input.constraints } : {}),
    org_id: input.orgId,
    uapk_id: manifest.uapk_id,
    manifest_id: manifest.manifest_id,
  };
  const token = await new SignJWT(claims as unknown as JWTPayload)
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "JWT" })
    .setIssuer(input.issuerId)
    .setSubject(input.agentId)
    .setAudience(CAPABILITY_AUDIENCE)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .setJti(tokenId)
    .sign(key.privateKey);
  // A token no request can carry would be refused (400) on every use: it is not issued (both stores sign here).
  if (token.length > MAX_TOKEN_CHARS)
    throw new TokenIssueError([
      {
        pointer: "/constraints/allowed_recipients",
        message: `the token would be ${token.length} characters, more than the ${MAX_TOKEN_CHARS} a request may carry: list fewer recipient patterns`,
      },
    ]);
  const expiresAt = new Date(exp * 1000).toISOString();
  return {
    issued: {
      token_id: tokenId,
      token,
      expires_at: expiresAt,
      capabilities,
      ...(input.constraints ? { constraints: input.constraints } : {}),
    },
    row: {
      token_id: tokenId,
      org_id: input.orgId,
      issuer_id: input.issuerId,
      issued_by: input.issuedBy,
      agent_id: input.agentId,
      manifest_id: manifest.manifest_id,
      uapk_id: manifest.uapk_id,
      capabilities: JSON.stringify(capabilities),
      constraints: input.constraints ? JSON.stringify(input.constraints) : null,
      kid: key.kid,
      issued_at: issuedAt.toISOString(),
      expires_at: expiresAt,
    },
  };
}

/**
 * The signature and claims of a presented token (not yet its revocation): only EdDSA with a key of ours (by
 * `kid`); `aud`, `exp`, `nbf`, `sub`, `jti` are required; issued to this agent for this manifest.
 */
export async function verifyCapabilityJwt(
  token: string,
  publicKey: (kid: string) => KeyObject | undefined | Promise<KeyObject | undefined>,
  expected: { orgId: string; agentId: string; uapkId: string },
  now: Date,
): Promise<TokenVerification> {
  const invalid = (message: string): TokenVerification => ({ ok: false, code: "INVALID_TOKEN", message });
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return invalid("Capability token is not a JWT");
  }
  const key = kid ? await publicKey(kid) : undefined;
  if (!key) return invalid("Capability token is not signed by a Gatehouse key");

  let claims: CapabilityClaims;
  try {
    const verified = await jwtVerify(token, key, {
      algorithms: ["EdDSA"],
      audience: CAPABILITY_AUDIENCE,
      requiredClaims: ["exp", "nbf", "sub", "jti", "iss"],
      currentDate: now,
    });
    claims = verified.payload as unknown as CapabilityClaims;
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired)
      return { ok: false, code: "TOKEN_EXPIRED", message: "Capability token has expired" };
    return invalid(`Capability token is invalid: ${(err as Error).message}`);
  }
  if (claims.token_type !== "capability") return invalid("Not a capability token");
  if (!Array.isArray(claims.cap)) return invalid("Capability token has no cap claim");
  if (claims.sub !== expected.agentId) return invalid(`Capability token was issued to another agent`);
  if (claims.org_id !== expected.orgId || claims.uapk_id !== expected.uapkId)
    return invalid("Capability token was issued for another manifest");
  return { ok: true, claims };
}

/** The verdict on a verified token from its stored row (none → unknown, revoked_at → revoked). */
export function revocationVerdict(
  verified: TokenVerification,
  row: { revoked_at: string | null } | undefined,
): TokenVerification {
  if (!verified.ok) return verified;
  if (!row) return { ok: false, code: "INVALID_TOKEN", message: "Capability token is unknown" };
  if (row.revoked_at) return { ok: false, code: "TOKEN_REVOKED", message: "Capability token was revoked" };
  return verified;
}

/** Newest first; by default only tokens that are neither revoked nor expired. */
export type TokenRow = Row;

/** What issuing stores of a token (revocation columns start empty). */
const ISSUED_COLUMNS = [
  "token_id",
  "org_id",
  "issuer_id",
  "issued_by",
  "agent_id",
  "manifest_id",
  "uapk_id",
  "capabilities",
  "constraints",
  "kid",
  "issued_at",
  "expires_at",
] as const satisfies readonly (keyof Row)[];

type TokenKey = { org_id: string; token_id: string };

/** The embedded store's statements, built once (verify runs on every action that presents a token). */
function tokenStatements(db: Db) {
  const byKey = sqliteQuery(db, (b, $: TokenKey) =>
    b.selectFrom("capability_tokens").selectAll().where("org_id", "=", $.org_id).where("token_id", "=", $.token_id),
  );
  return {
    insert: sqliteQuery(db, (b, $: Pick<Row, (typeof ISSUED_COLUMNS)[number]>) =>
      b.insertInto("capability_tokens").values(paramsOf($, ISSUED_COLUMNS)),
    ),
    revocation: sqliteQuery(db, (b, $: TokenKey) =>
      b
        .selectFrom("capability_tokens")
        .select("revoked_at")
        .where("token_id", "=", $.token_id)
        .where("org_id", "=", $.org_id),
    ),
    revoke: sqliteQuery(db, (b, $: TokenKey & Pick<Row, "revoked_at" | "revoke_reason" | "revoked_by">) =>
      b
        .updateTable("capability_tokens")
        .set({ revoked_at: $.revoked_at, revoke_reason: $.revoke_reason, revoked_by: $.revoked_by })
        .where("org_id", "=", $.org_id)
        .where("token_id", "=", $.token_id)
        .where("revoked_at", "is", null),
    ),
    byKey,
  };
}

/**
 * What the org's audit chain records of an issued token (a `token_issued` record): its claims as stored, recipients
 * counted, and the operator accountable. Never the JWT.
 */
export function tokenIssuedRecord(row: Omit<Row, "revoked_at" | "revoke_reason" | "revoked_by">): TokenIssuedInput {
  const constraints = row.constraints ? (JSON.parse(row.constraints) as TokenConstraints) : undefined;
  return {
    kind: "token_issued",
    org_id: row.org_id,
    token_id: row.token_id,
    uapk_id: row.uapk_id,
    agent_id: row.agent_id,
    manifest_id: row.manifest_id,
    issuer_id: row.issuer_id,
    issued_by: row.issued_by ?? "unknown",
    capabilities: JSON.parse(row.capabilities) as string[],
    ...(constraints?.max_actions !== undefined ? { max_actions: constraints.max_actions } : {}),
    ...(constraints?.allowed_recipients ? { allowed_recipients_count: constraints.allowed_recipients.length } : {}),
    issued_at: row.issued_at,
    expires_at: row.expires_at,
  };
}

/** What the org's audit chain records of a revocation (a `token_revoked` record): which token, by whom, when, why. */
export function tokenRevokedRecord(row: Row): TokenRevokedInput {
  return {
    kind: "token_revoked",
    org_id: row.org_id,
    token_id: row.token_id,
    uapk_id: row.uapk_id,
    agent_id: row.agent_id,
    manifest_id: row.manifest_id,
    revoked_by: row.revoked_by ?? "unknown",
    revoked_at: row.revoked_at ?? "",
    reason: row.revoke_reason,
  };
}

/** Where issue and revocation are audited: the embedded audit log on the same database (its appends nest). */
export interface TokenAudit {
  appendTokenRecord(input: TokenRecordInput): AuditRecord;
}

export class CapabilityTokenService {
  private readonly now: () => Date;
  private readonly statements: ReturnType<typeof tokenStatements>;
  private readonly audit: TokenAudit | undefined;

  constructor(
    private readonly db: Db,
    private readonly keys: SigningKeyStore,
    options: { now?: () => Date; audit?: TokenAudit | undefined } = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.statements = tokenStatements(db);
    this.audit = options.audit;
  }

  /** The token's row and its audit record in one transaction: no token nobody is recorded as having issued. */
  async issue(input: IssueTokenInput): Promise<IssuedToken> {
    checkIssueRequest(input);
    const { issued, row } = await signCapabilityToken(input, this.keys.activeKey(), this.now());
    this.db
      .transaction(() => {
        this.statements.insert.run(row);
        this.audit?.appendTokenRecord(tokenIssuedRecord(row));
      })
      .immediate();
    return issued;
  }

  /** Verifies a token presented by `agentId` for `uapkId` in `orgId`: signature, claims, not revoked. */
  async verify(
    token: string,
    expected: { orgId: string; agentId: string; uapkId: string },
  ): Promise<TokenVerification> {
    const verified = await verifyCapabilityJwt(token, (kid) => this.keys.publicKey(kid), expected, this.now());
    if (!verified.ok) return verified;
    const row = this.statements.revocation.get({ token_id: verified.claims.jti, org_id: expected.orgId });
    return revocationVerdict(verified, row);
  }

  /** Revokes by token id (jti), by operator `revokedBy`. Idempotent: revoking twice keeps the first time, reason and operator. */
  revoke(orgId: string, tokenId: string, revokedBy: string, reason?: string): TokenInfo | undefined {
    // The revocation and its audit record in one transaction; only the revocation that took effect is recorded (a
    // repeated one changes nothing, and writes nothing).
    const row = this.db
      .transaction(() => {
        const { changes } = this.statements.revoke.run({
          revoked_at: this.now().toISOString(),
          revoke_reason: reason ?? null,
          revoked_by: revokedBy,
          org_id: orgId,
          token_id: tokenId,
        });
        const revoked = this.statements.byKey.get({ org_id: orgId, token_id: tokenId });
        if (changes === 1 && revoked) this.audit?.appendTokenRecord(tokenRevokedRecord(revoked));
        return revoked;
      })
      .immediate();
    return row && toInfo(row);
  }

  get(orgId: string, tokenId: string): TokenInfo | undefined {
    const row = this.statements.byKey.get({ org_id: orgId, token_id: tokenId });
    return row && toInfo(row);
  }

  /** Newest first; by default only tokens that are neither revoked nor expired. */
  list(orgId: string, filter: TokenListFilter = {}): TokenInfo[] {
    const query = listTokensQuery(sqliteBuilder, orgId, filter, this.now().toISOString());
    return compiledQuery(this.db, query).all().map(toInfo);
  }
}

export function toInfo(row: Row): TokenInfo {
  return {
    token_id: row.token_id,
    issuer_id: row.issuer_id,
    ...(row.issued_by ? { issued_by: row.issued_by } : {}),
    agent_id: row.agent_id,
    manifest_id: row.manifest_id,
    uapk_id: row.uapk_id,
    capabilities: JSON.parse(row.capabilities) as string[],
    ...(row.constraints ? { constraints: JSON.parse(row.constraints) as TokenConstraints } : {}),
    issued_at: row.issued_at,
    expires_at: row.expires_at,
    revoked: row.revoked_at !== null,
    ...(row.revoked_at ? { revoked_at: row.revoked_at } : {}),
    ...(row.revoked_by ? { revoked_by: row.revoked_by } : {}),
    ...(row.revoke_reason ? { revoke_reason: row.revoke_reason } : {}),
  };
}
