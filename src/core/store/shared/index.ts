// The shared-state stores written once with Kysely, for every backend (PostgreSQL in a cluster; SQLite too,
// where the store-contract suite runs them). The embedded SQLite default keeps its synchronous, prepared-
// statement stores (src/core/*) on the hot path; these are what a multi-node installation runs on.

import type { VerifyOptions } from "../../audit/verify";
import type { Escalate, ReservationStore } from "../../governance/ports";
import type { CapabilityTokensService } from "../../ports";
import type { AnyKysely } from "../postgres";
import { createSharedApprovals, type SharedApprovals } from "./approvals";
import { createSharedAuditChain, type SharedAuditChain } from "./audit-chain";
import { createSharedBudgets, type SharedBudgets } from "./budgets";
import { createSharedCapabilityTokens } from "./capability-tokens";
import { createSharedCounterparties, type SharedCounterparties } from "./counterparties";
import { sharedEscalations } from "./escalations";
import { sharedGroupCommit } from "./group-commit";
import { createSharedIdempotencyStore, type SharedIdempotencyStore } from "./idempotency";
import { createSharedManifests, type SharedManifests } from "./manifests";
import { sharedReservations } from "./reservations";
import { secretBox } from "./secret-box";
import { createSharedSigningKeys, type SharedSigningKeys } from "./signing-keys";

export interface SharedStores {
  /** Audit, capability-token and development-issuer keys: every node signs and verifies with the same ones. */
  signingKeys: { audit: SharedSigningKeys; capabilityToken: SharedSigningKeys; devIssuer: SharedSigningKeys };
  manifests: SharedManifests;
  counterparties: SharedCounterparties;
  budgets: SharedBudgets;
  idempotency: SharedIdempotencyStore;
  approvals: SharedApprovals;
  audit: SharedAuditChain;
  /** The governance engine's ReservationStore port (budget + approval + intent in one transaction). */
  reservations: ReservationStore;
  /** An ESCALATE's approval and decision record in one transaction (./escalations.ts). */
  escalations: Escalate;
  capabilityTokens: CapabilityTokensService;
}

export interface SharedStoresOptions {
  /** GATEHOUSE_SECRET: seals the signing keys at rest; every node must have the same one. */
  secret: string | Buffer;
  now?: () => Date;
  /** The online verification's tolerances (the step back its nodes' clocks allow). */
  verify?: VerifyOptions;
}

export function createSharedStores(db: AnyKysely, options: SharedStoresOptions): SharedStores {
  const box = secretBox(options.secret);
  const now = options.now;
  const clock = now ? { now } : {};
  const signingKeys = {
    audit: createSharedSigningKeys(db, { purpose: "audit", box, ...clock }),
    capabilityToken: createSharedSigningKeys(db, { purpose: "capability-token", box, ...clock }),
    devIssuer: createSharedSigningKeys(db, { purpose: "dev-issuer", box, ...clock }),
  };
  const budgets = createSharedBudgets(db);
  const approvals = createSharedApprovals(db, clock);
  // One group commit per node: reservations and audit appends of a turn share one transaction.
  const groups = sharedGroupCommit(db);
  const audit = createSharedAuditChain(db, signingKeys.audit, {
    ...clock,
    groups,
    ...(options.verify ? { verify: options.verify } : {}),
  });
  return {
    signingKeys,
    manifests: createSharedManifests(db, clock),
    counterparties: createSharedCounterparties(db),
    budgets,
    idempotency: createSharedIdempotencyStore(db, clock),
    approvals,
    audit,
    reservations: sharedReservations(groups, { budgets, approvals, audit }),
    escalations: sharedEscalations(groups, { approvals, audit }),
    capabilityTokens: createSharedCapabilityTokens(db, signingKeys.capabilityToken, { ...clock, audit }),
  };
}

export { createSharedApiKeys } from "./api-keys";
export { createSharedApprovalsService } from "./approvals-service";
export { secretBox } from "./secret-box";
export type {
  SharedApprovals,
  SharedAuditChain,
  SharedBudgets,
  SharedCounterparties,
  SharedIdempotencyStore,
  SharedManifests,
  SharedSigningKeys,
};
