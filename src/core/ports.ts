// The store-facing ports of the faces: what REST, MCP, sessions and the console need from approvals, the audit
// log, manifests, capability tokens and API keys. Two backends implement them — the embedded SQLite stores
// (synchronous, prepared statements: src/core/approvals, audit, policy, identity) and the shared Kysely stores
// on PostgreSQL (src/core/store/shared, several gateway nodes). A method may answer synchronously or with a
// promise; a face always awaits it, so both backends fit the same face code.
import type {
  AgentApprovalView,
  Approval,
  ApprovalPosition,
  ApprovalStatus,
  CreateApprovalInput,
  DecideResult,
  DecisionListener,
} from "./approvals";
import type { ApprovalChange } from "./approvals/changes";
import type { ApprovalRefusalInput, AuditListFilter, AuditPage } from "./audit/audit-log";
import type { ChainHead } from "./audit/chain-head";
import type { AuditRecord } from "./audit/record";
import type { ChainVerification } from "./audit/verify";
import type { Escalate } from "./governance/ports";
import type { ApiKeyIdentity } from "./identity/api-keys";
import type { PublicJwk } from "./keys";
import type { IssuedToken, IssueTokenInput, TokenInfo, TokenVerification } from "./policy/tokens/capability-tokens";
import type { Manifest, ManifestInput, ManifestStatus, ManifestVersion, ManifestVersionInfo } from "./policy/types";
import type { TokenListFilter } from "./store/token-queries";

export type MaybePromise<T> = T | Promise<T>;

/** Approvals as the faces use them: operators decide, agents read and long-poll, sessions cancel. */
export interface ApprovalsService {
  create(input: CreateApprovalInput): MaybePromise<Approval>;
  /** The shared store: create, with the audit decision that names the approval, in one commit. */
  escalate?: Escalate;
  list(
    org_id: string,
    /** `after`: the position of the last approval of the previous page (keyset paging). */
    filter?: { status?: ApprovalStatus; agent_id?: string; limit?: number; after?: ApprovalPosition },
  ): MaybePromise<Approval[]>;
  get(org_id: string, approval_id: string): MaybePromise<Approval | null>;
  getForAgent(org_id: string, approval_id: string, agent_id?: string): MaybePromise<AgentApprovalView | null>;
  approve(
    org_id: string,
    approval_id: string,
    decision: { by: string; reason?: string | undefined },
  ): MaybePromise<DecideResult>;
  deny(
    org_id: string,
    approval_id: string,
    decision: { by: string; reason?: string | undefined },
  ): MaybePromise<DecideResult>;
  /** Resolves once it is no longer pending (woken by the event bus, re-checked periodically), or after timeoutMs. */
  waitForDecision(
    org_id: string,
    approval_id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Approval | null>;
  cancel(org_id: string, approval_id: string, reason: string): MaybePromise<boolean>;
  expireOverdue(org_id?: string): MaybePromise<number>;
  /** Verdicts reached on this node (approved, denied, expired). */
  onDecided(listener: DecisionListener): () => void;
  /** Approvals created or changed since an instant, whichever node wrote them (the console's live feed). */
  changesSince(org_id: string, sinceIso: string): MaybePromise<ApprovalChange[]>;
  close(): void;
}

/** The audit log as operators read it. */
export interface AuditService {
  /** Newest first; throws InvalidAuditQueryError on a bad filter. */
  list(org_id: string, filter?: AuditListFilter): MaybePromise<AuditPage>;
  getInteraction(org_id: string, interaction_id: string): MaybePromise<AuditRecord[]>;
  verifyChain(org_id: string): MaybePromise<ChainVerification>;
  /**
   * One canonical JSON record per line, chain order, then the signed head (what `gatehouse audit verify` checks), a
   * page of records at a time, so a long chain is never held in memory nor read in one pause. No export is built
   * whole.
   */
  exportJsonlStream(org_id: string): AsyncIterable<string>;
  /** The org's chain head, signed with the audit key (an export ends with it; a cut tail is detected). */
  signedHead(org_id: string): MaybePromise<ChainHead>;
  publicJwks(): MaybePromise<{ keys: PublicJwk[] }>;
  /** Records an attempt at an approval the operator API refused (SELF_APPROVAL): kind `refusal`, not a verdict. */
  appendApprovalRefusal(input: ApprovalRefusalInput): MaybePromise<AuditRecord>;
}

/** Manifests: registered over REST or from the GitOps folder, read by the engine on every action. */
export interface ManifestsService {
  /** `author`: who made the change, as the manifest's version records it. */
  register(orgId: string, input: ManifestInput, author?: string): MaybePromise<Manifest>;
  /** Registers, or updates the body of an existing manifest with that uapk_id (the GitOps folder). */
  upsert(orgId: string, input: ManifestInput, author?: string): MaybePromise<Manifest>;
  /**
   * Replaces the content of the manifest `manifestId` (PUT): a new version, status kept; the same content → no
   * version. Undefined when the org has no such manifest; a conflict when it is revoked or `input.uapk_id` is not its
   * own. `input.manifest_id` is not read (the caller checks it names this manifest).
   */
  update(orgId: string, manifestId: string, input: ManifestInput, author?: string): MaybePromise<Manifest | undefined>;
  get(orgId: string, manifestId: string): MaybePromise<Manifest | undefined>;
  getByUapkId(orgId: string, uapkId: string): MaybePromise<Manifest | undefined>;
  list(orgId: string, status?: ManifestStatus): MaybePromise<Manifest[]>;
  setStatus(
    orgId: string,
    manifestId: string,
    status: ManifestStatus,
    author?: string,
  ): MaybePromise<Manifest | undefined>;
  /** Every version of a manifest, oldest first; undefined when the org has no such manifest. */
  versions(orgId: string, manifestId: string): MaybePromise<ManifestVersionInfo[] | undefined>;
  version(orgId: string, manifestId: string, version: number): MaybePromise<ManifestVersion | undefined>;
}

/** Capability tokens: issued and revoked by operators, verified by the policy pipeline on every action. */
export interface CapabilityTokensService {
  issue(input: IssueTokenInput): Promise<IssuedToken>;
  verify(token: string, expected: { orgId: string; agentId: string; uapkId: string }): Promise<TokenVerification>;
  /** One token as recorded (revoked and expired ones too); undefined when the org has no such token. */
  get(orgId: string, tokenId: string): MaybePromise<TokenInfo | undefined>;
  /**
   * By operator `revokedBy` (their `sub`, recorded as `revoked_by`). Idempotent: a second revocation keeps the
   * first's time, reason and operator. Undefined when the token does not exist in the org.
   */
  revoke(orgId: string, tokenId: string, revokedBy: string, reason?: string): MaybePromise<TokenInfo | undefined>;
  /** Newest first (issued_at, then token_id); by default only tokens neither revoked nor expired. */
  list(orgId: string, filter?: TokenListFilter): MaybePromise<TokenInfo[]>;
}

/** API keys of agents and scripts. */
export interface ApiKeysService {
  /** No key configured at all → the seed's 503. */
  readonly configured: MaybePromise<boolean>;
  verify(presented: string): MaybePromise<ApiKeyIdentity | undefined>;
  /** Creates a key for an org; returns the plaintext once. */
  create(orgId: string, label: string): MaybePromise<{ keyId: string; key: string }>;
}
