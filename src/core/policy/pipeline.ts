// The policy pipeline: a fixed, documented order of checks, one file each in ./checks/.
//
//   manifest_validation → capability_token → action_type → tool_authorization → amount_threshold →
//   counterparty_check → jurisdiction_check → budget_check → approval_check
//
// Every check declares the facts it needs (./policy-check.ts) and returns an explicit outcome; each check
// that runs leaves one trace entry (pass | fail | skip | escalate). The first `stop` is a DENY (trace `fail`)
// and ends the pipeline. `escalate`s accumulate and evaluation goes on, so a later DENY wins over an earlier
// ESCALATE. The approval check runs last: an approved approval bound to this exact action turns the
// accumulated ESCALATE into ALLOW (once); it can never override a DENY, because a DENY never reaches it.
// What the content checks (amount, counterparty, jurisdiction) judge is what the connector receives:
// tool_authorization extracts it once from the params (./extract.ts), and every comparison runs on the one
// normal form (./normalize.ts) with the one pattern grammar (./pattern.ts) — never on the raw text.
// The pipeline itself changes no state: budget consumption and approval creation are the caller's
// (execute's) job, so evaluate is a pure dry run.
import { actionHash } from "./action-hash";
import type { BudgetSlot } from "./budget-counters";
import { POLICY_CHECKS } from "./checks";
import {
  type CheckInput,
  type CheckOutcome,
  type CheckView,
  type FactName,
  isPromise,
  type PolicyCheck,
  type PolicyDeps,
  type PolicyFacts,
} from "./policy-check";
import type { CapabilityClaims } from "./tokens/capability-tokens";
import {
  type ActionRequest,
  type CheckResult,
  capabilityOf,
  type Decision,
  type Manifest,
  type PolicyTraceEntry,
  type Reason,
  type RiskSnapshot,
} from "./types";

// Callers import the engine's seams from here, as before the checks' types moved to ./policy-check.
export type { ApprovalView, FindApproval, PolicyCheck, PolicyDeps } from "./policy-check";

export interface PolicyDecision {
  decision: Decision;
  reasons: Reason[];
  policy_trace: { checks: PolicyTraceEntry[] };
  risk_snapshot?: RiskSnapshot;
  /** The budgets execute must consume on ALLOW. */
  budgetSlots: BudgetSlot[];
  /** The approval that turned ESCALATE into ALLOW (execute must consume it). */
  approvedBy?: string;
  manifest?: Manifest | undefined;
  token?: CapabilityClaims | undefined;
  /** The action's recipients, normalised (remembered as known counterparties once the action ran). */
  counterparties: string[];
  /** The recipients the policy refuses to read, shown visibly with why (for an approval's risk picture only). */
  refusedRecipients?: string[];
  /**
   * Why the params could not be read completely (./extract.ts), when they could not: `counterparties` and the
   * amounts judged may then be missing some, and whoever shows them (an approval's risk picture) must say so.
   */
  incomplete?: string;
}

export { actionHash };

export async function decide(
  orgId: string,
  request: ActionRequest,
  deps: PolicyDeps,
  options: { now?: Date; checks?: readonly PolicyCheck[] } = {},
): Promise<PolicyDecision> {
  const escalations: Reason[] = [];
  // One input for every check (the escalations so far are the same array, growing): a copy per check showed up
  // in the profile of a decision.
  const input: CheckInput = {
    orgId,
    request,
    capability: capabilityOf(request.action),
    now: options.now ?? new Date(),
    escalations,
  };
  const facts: Partial<PolicyFacts> = {};
  const trace: PolicyTraceEntry[] = [];
  let denial: Reason[] | undefined;

  for (const check of options.checks ?? POLICY_CHECKS) {
    const ran = check.run(viewFor(check, input, facts), deps);
    // Awaited only when it is a promise: most checks answer at once (always, on the embedded store), and each
    // `await` of a value cost a turn of the microtask queue.
    const outcome = isPromise(ran) ? await ran : ran;
    if (outcome.facts) Object.assign(facts, outcome.facts);
    const entry: PolicyTraceEntry = { check: check.name, result: traceResult(outcome) };
    if (outcome.details) entry.details = outcome.details;
    trace.push(entry);
    if (outcome.kind === "stop") {
      denial = outcome.reasons.length
        ? outcome.reasons
        : [{ code: "ACTION_NOT_ALLOWED", message: `${check.name} failed` }];
      break;
    }
    if (outcome.kind === "escalate") escalations.push(...outcome.reasons);
  }

  const base = {
    policy_trace: { checks: trace },
    ...(facts.riskSnapshot ? { risk_snapshot: facts.riskSnapshot } : {}),
    budgetSlots: facts.budgetSlots ?? [],
    manifest: facts.manifest,
    token: facts.token,
    counterparties: facts.counterparties ?? [],
    ...(facts.refusedRecipients ? { refusedRecipients: facts.refusedRecipients } : {}),
    ...(facts.actionFacts?.incomplete ? { incomplete: facts.actionFacts.incomplete } : {}),
  };
  if (denial) return { decision: "DENY", reasons: denial, ...base };
  if (escalations.length > 0 && !facts.approvedBy) return { decision: "ESCALATE", reasons: escalations, ...base };
  return { decision: "ALLOW", reasons: [], ...base, ...(facts.approvedBy ? { approvedBy: facts.approvedBy } : {}) };
}

function traceResult(outcome: CheckOutcome<FactName>): CheckResult {
  if (outcome.kind === "continue") return outcome.result;
  return outcome.kind === "stop" ? "fail" : "escalate";
}

/**
 * The check's view: the input plus exactly the facts it declared. A needed fact that no earlier check
 * provided is a mistake in the order of the checks, not a property of the request: it throws rather than
 * letting the check run on a guess.
 */
function viewFor(check: PolicyCheck, input: CheckInput, facts: Partial<PolicyFacts>): CheckView<never, FactName> {
  // One object literal of a fixed shape (every fact present, undefined unless this check needs or reads it): a
  // spread of the input plus per-check keys made each view a new hidden class, about 5% of an evaluate's CPU.
  const view: Record<FactName, unknown> & CheckInput = {
    orgId: input.orgId,
    request: input.request,
    capability: input.capability,
    now: input.now,
    escalations: input.escalations,
    manifest: undefined,
    actionFacts: undefined,
    counterparties: undefined,
    refusedRecipients: undefined,
    token: undefined,
    budgetSlots: undefined,
    riskSnapshot: undefined,
    approvedBy: undefined,
  };
  for (const name of check.needs) {
    if (facts[name] === undefined)
      throw new Error(`Policy check '${check.name}' needs '${name}', which no earlier check provided`);
    view[name] = facts[name];
  }
  for (const name of check.reads) if (facts[name] !== undefined) view[name] = facts[name];
  return view as unknown as CheckView<never, FactName>;
}
