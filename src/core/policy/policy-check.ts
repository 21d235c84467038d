// What a policy check is: what it needs from the checks before it, what it may read, what it provides, and
// the explicit outcome it returns (Envoy's filter-chain idea: continue, escalate, or stop the chain with a
// decision). The pipeline (./pipeline.ts) and the checks (./checks/) both depend on this module and never on
// each other, so adding a check never touches the pipeline and a check cannot reach into the pipeline's state.
import type { GatewayResourceOrgs } from "./gateway-resources";
import type { BudgetCounters, BudgetSlot } from "./budget-counters";
import type { ActionFacts } from "./extract";
import type { KnownCounterparties } from "./known-counterparties";
import type { ManifestRepository } from "./manifest-repository";
import type { CapabilityClaims, CapabilityTokenService } from "./tokens/capability-tokens";
import type { ActionRequest, CheckName, Manifest, Reason, RiskSnapshot } from "./types";

/** What the approval check reads of an approval (a structural subset of src/core/approvals' Approval). */
export interface ApprovalView {
  approval_id: string;
  status: "pending" | "approved" | "denied" | "expired" | "consumed" | "cancelled";
  /** approvalBindingHash() of the escalated request (see ./action-hash.ts). */
  binding_hash: string;
  expires_at: string;
  /** The reasons the approver was shown (`{code, message}` each): the escalations the approval covers. */
  reasons: unknown[];
}

/** Seam to the approvals module (src/core/approvals `ApprovalStore.get`): read-only lookup of one approval. */
export type FindApproval = (
  orgId: string,
  approvalId: string,
) => ApprovalView | null | undefined | Promise<ApprovalView | null | undefined>;

type MaybePromise<T> = T | Promise<T>;

/**
 * The stores the checks read. Checks never write: evaluate is a dry run. Synchronous on the embedded SQLite
 * store, async on a networked one (src/core/store/shared): checks await every read.
 */
export interface PolicyDeps {
  manifests: {
    getByUapkId(...args: Parameters<ManifestRepository["getByUapkId"]>): MaybePromise<Manifest | undefined>;
  };
  tokens: Pick<CapabilityTokenService, "verify">;
  budgets: { current(...args: Parameters<BudgetCounters["current"]>): MaybePromise<number> };
  counterparties: {
    isKnown(...args: Parameters<KnownCounterparties["isKnown"]>): MaybePromise<boolean>;
    /**
     * Which of an action's counterparties are not known yet, asked all at once: a networked store answers it in a
     * few round trips instead of one per counterparty (an action may name ~10,000). Optional: without it, `isKnown`
     * is asked of each.
     */
    unknownAmong?(orgId: string, uapkId: string, counterparties: readonly string[]): Promise<string[]>;
  };
  findApproval?: FindApproval | undefined;
  /**
   * The org each of the gateway's own resources belongs to (../gateway-resources.ts): its purutos
   * (GATEHOUSE_PURUTO_ORG), its GATEHOUSE_SECRET_* variables and private network (GATEHOUSE_SECRETS_ORG). Another
   * org's tool that would use them is not authorised. Absent: every org may.
   */
  resourceOrgs?: GatewayResourceOrgs | undefined;
}

/** Facts a check establishes for the checks after it (and for the caller, in the PolicyDecision). */
export interface PolicyFacts {
  /** The caller's active manifest for this agent (manifest_validation). */
  manifest: Manifest;
  /** What the connector will receive: recipients, amounts, currencies, jurisdictions (tool_authorization). */
  actionFacts: ActionFacts;
  /** The action's recipients, normalised (counterparty_check): remembered as known once the action ran. */
  counterparties: string[];
  /**
   * The recipients the policy refuses to read (a look-alike, an invisible character), each shown visibly with why
   * (counterparty_check): never known counterparties, but an operator weighing an approval must see them.
   */
  refusedRecipients: string[];
  /** The verified claims of a presented capability token (capability_token; absent without a token). */
  token: CapabilityClaims;
  /** The budgets an execution must consume (budget_check). */
  budgetSlots: BudgetSlot[];
  riskSnapshot: RiskSnapshot;
  /** The approval that turns the accumulated ESCALATE into ALLOW (approval_check). */
  approvedBy: string;
}
export type FactName = keyof PolicyFacts;

/** What every check sees of the request being decided. */
export interface CheckInput {
  orgId: string;
  request: ActionRequest;
  /** `type:tool`. */
  capability: string;
  now: Date;
  /** ESCALATE reasons of the checks before this one. */
  escalations: readonly Reason[];
}

/** A check's view: the input, the facts it needs (present), and the facts it reads (present or not). */
export type CheckView<Needs extends FactName, Reads extends FactName> = CheckInput &
  Readonly<Pick<PolicyFacts, Needs>> &
  Readonly<Partial<Pick<PolicyFacts, Reads>>>;

type Details = Record<string, unknown>;

/**
 * A check's verdict. `continue` traces pass or skip; `escalate` adds ESCALATE reasons and the chain goes on
 * (a later DENY still wins); `stop` ends the chain with a DENY. Any of them may hand facts to later checks.
 */
export type CheckOutcome<Provides extends FactName = never> = (
  | { kind: "continue"; result: "pass" | "skip" }
  | { kind: "escalate"; reasons: Reason[] }
  | { kind: "stop"; decision: "DENY"; reasons: Reason[] }
) & { details?: Details; facts?: ProvidedFacts<Provides> };

/** The facts a check declared it provides; any other fact is a compile error. */
type ProvidedFacts<Provides extends FactName> = { [K in Provides]?: PolicyFacts[K] } & {
  [K in Exclude<FactName, Provides>]?: never;
};

/** A check as the pipeline runs it (built by `defineCheck`). */
export interface PolicyCheck {
  /** Trace name, e.g. `budget_check`. */
  readonly name: CheckName;
  readonly needs: readonly FactName[];
  readonly reads: readonly FactName[];
  readonly provides: readonly FactName[];
  run(view: CheckView<never, FactName>, deps: PolicyDeps): CheckOutcome<FactName> | Promise<CheckOutcome<FactName>>;
}

export interface CheckSpec<Needs extends FactName, Reads extends FactName, Provides extends FactName> {
  name: CheckName;
  needs: readonly Needs[];
  reads?: readonly Reads[];
  provides?: readonly Provides[];
  // NoInfer: the declarations above decide the type parameters; `run` is checked against them.
  run(
    view: CheckView<NoInfer<Needs>, NoInfer<Reads>>,
    deps: PolicyDeps,
  ): CheckOutcome<NoInfer<Provides>> | Promise<CheckOutcome<NoInfer<Provides>>>;
}

/** Declares a check; the compiler holds `run` to its declared needs, reads and provides. */
export function defineCheck<
  Needs extends FactName = never,
  Reads extends FactName = never,
  Provides extends FactName = never,
>(spec: CheckSpec<Needs, Reads, Provides>): PolicyCheck {
  return {
    name: spec.name,
    needs: spec.needs,
    reads: spec.reads ?? [],
    provides: spec.provides ?? [],
    // Sound because the pipeline hands a check its needed facts or does not run it (see pipeline.ts).
    run: spec.run as PolicyCheck["run"],
  };
}

export const pass = (details?: Details): CheckOutcome => ({
  kind: "continue",
  result: "pass",
  ...(details ? { details } : {}),
});
export const skip = (): CheckOutcome => ({ kind: "continue", result: "skip" });
export const escalate = (reasons: Reason[], details?: Details): CheckOutcome => ({
  kind: "escalate",
  reasons,
  ...(details ? { details } : {}),
});
/** Stops the chain with a DENY for one reason. */
export function deny(code: Reason["code"], message: string, details?: Details): CheckOutcome {
  return { kind: "stop", decision: "DENY", reasons: [{ code, message }], ...(details ? { details } : {}) };
}

/**
 * `then(value)` now when the value is already there, or once it resolves. The stores answer synchronously on the
 * embedded SQLite backend: a check built with this returns its outcome without a promise there, and the
 * pipeline does not wait a turn of the microtask queue for it (each such wait showed in the profile of a decision).
 */
export function whenReady<T, R>(value: MaybePromise<T>, then: (value: T) => R): R | Promise<R> {
  return isPromise(value) ? value.then(then) : then(value);
}

// `instanceof`, not a look-up of `then`: a store answers a value or a native promise (an async function), and
// a `then` look-up on every outcome's shape was itself visible in the profile.
export const isPromise = <T>(value: MaybePromise<T>): value is Promise<T> => value instanceof Promise;
