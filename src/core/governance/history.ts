// What shadow replay and evidence bundles read of the past, as ports: the audit chain, the known counterparties
// and the capability tokens as they were recorded. Two backends implement them — the embedded SQLite store
// (./sqlite-history.ts) and the shared store on PostgreSQL (src/core/store/shared/audit-history.ts) — so both
// operations answer the same on either. Everything here only reads.
import type { ChainHead } from "../audit/chain-head";
import type { RecordedAction } from "../audit/audit-log";
import type { AuditRecord } from "../audit/record";
import type { MaybePromise } from "../ports";
import type { TokenInfo } from "../policy/tokens/capability-tokens";

/** Which recorded budget spending to count: one capability token's, or one agent's hourly budget from `since`. */
export type SpentBy = { token_id: string } | { uapk_id: string; agent_id: string; since: string };

export interface AuditHistory {
  /** Every record of one interaction, chain order. */
  getInteraction(orgId: string, interactionId: string): MaybePromise<AuditRecord[]>;
  /** The org's chain head, signed with the audit key. */
  signedHead(orgId: string): MaybePromise<ChainHead>;
  /** Up to `limit` records from `fromSeq` on, chain order: a page of an evidence bundle's proof. */
  chainPage(orgId: string, fromSeq: number, limit: number): MaybePromise<AuditRecord[]>;
  /** One agent's `intent` and `decision` records, chain order, at most `limit` + 1 (so a caller sees there are more). */
  actionRecords(
    orgId: string,
    filter: { uapk_id: string; since?: string; until?: string; after_seq?: number; limit: number },
  ): MaybePromise<RecordedAction[]>;
  /** How many intents (ALLOWs that spent a budget) were recorded before `beforeSeq`. */
  intentsBefore(orgId: string, beforeSeq: number, spentBy: SpentBy): MaybePromise<number>;
  /** When each of an agent's counterparties was first seen. */
  counterpartiesFirstSeen(orgId: string, uapkId: string): MaybePromise<{ counterparty: string; first_seen: string }[]>;
}

/** Capability tokens as recorded (claims, expiry, revocation), revoked ones included. */
export interface TokenRecords {
  get(orgId: string, tokenId: string): MaybePromise<TokenInfo | undefined>;
}

/** The LIKE pattern that finds a token's id in a stored policy trace (the trace signs the id, not the token). */
export const tokenTracePattern = (tokenId: string) => `%"token_id":${JSON.stringify(tokenId)}%`;
