// authorize: decide one call and, on ALLOW, reserve it (write-ahead) — without running anything. `execute`
// runs a connector after it; the sessions face hands the call to the IDE instead and reports the IDE's
// tool_result with `recordOutcome`.
//
//   1. decide (pure): the pipeline of src/core/policy.
//   2. DENY: audit `decision`. ESCALATE: the pending approval and the audit `decision` naming it (one commit on
//      the embedded store, see ./sqlite-adapters.ts).
//   3. ALLOW: the optional gate (e.g. "is there a connector for this tool here?") may refuse before anything is
//      reserved. Otherwise ONE commit takes the budget units, consumes the approval if one was used, links the
//      idempotency key's claim (if any) and writes the audit `intent` — before anything runs, so a crash leaves a
//      record, never an unrecorded side effect, and a claim is never linked to an intent that was not written.
//   4. A lost budget race (another call took the last unit between decide and reserve) reserves nothing: the
//      pipeline decides the call again on the budgets as they now are. Its own budget check gives the DENY,
//      its reasons and its trace; nothing is patched after the fact.
//   5. A lost approval race (another call spent the approval between this call's check and its reservation) is
//      decided again once too: the approval check then finds the approval used and keeps the ESCALATE (a new
//      approval, audited), the answer of any re-submission that comes after the spend. Every loser of such a race
//      gets that one answer, whichever step it lost at — except a call with an idempotency key, which keeps the
//      409 APPROVAL_ALREADY_CONSUMED (its key may hold the answer of a retry that took its claim over).
import { type ApprovalRisk, boundedRisk } from "../approvals";
import { newInteractionId } from "../audit/interaction-id";
import { must } from "../must";
import { visibly } from "../policy/clip";
import { approvalBindingOf } from "../policy/action-hash";
import type { PolicyDecision } from "../policy/pipeline";
import { capabilityOf, type ToolConfig } from "../policy/types";
import type { EscalationStore, GovernanceAudit, ReservationStore } from "./ports";
import { traceDecide } from "../tracing/governance";
import { auditMetaOf, decisionFields, decisionRecord, intentRecord } from "./records";
import {
  ActionConflictError,
  ActionUnavailableError,
  type Authorization,
  type ExecuteRequest,
  type IdempotencyClaim,
} from "./types";

/** Each lost race means another call took a unit; past this many in a row the call is answered as contended. */
const MAX_RESERVATION_ATTEMPTS = 8;

export interface AuthorizeOptions {
  meta?: Record<string, unknown> | undefined;
  /**
   * Runs on ALLOW before anything is reserved. A returned note refuses the call: it is audited as a decision
   * with the note in its meta, and the authorization comes back `gated` (budget and approval untouched).
   */
  gate?: (tool: ToolConfig) => Record<string, unknown> | undefined;
  /** See ExecuteOptions.claim: linked to the interaction in the reservation's commit. */
  claim?: IdempotencyClaim | undefined;
}

export interface AuthorizerDeps {
  now: () => Date;
  decide: (orgId: string, request: ExecuteRequest, at: Date) => Promise<PolicyDecision>;
  /** Where an ESCALATE's approval and decision record are written; without it, ESCALATE is unavailable. */
  escalations?: EscalationStore | undefined;
  audit: GovernanceAudit;
  reservations: ReservationStore;
}

export type Authorize = (orgId: string, request: ExecuteRequest, options?: AuthorizeOptions) => Promise<Authorization>;

/**
 * The risk picture an operator weighs, from what the policy established (not re-derived from raw params); its
 * recipients bounded, with their total, so the stored row and every view of it stay small.
 */
function riskOf(request: ExecuteRequest, d: PolicyDecision): ApprovalRisk {
  const { amount, currency } = judgedAmountOf(d) ?? request.action;
  return boundedRisk({
    ...(typeof amount === "number" ? { amount } : {}),
    ...(typeof currency === "string" ? { currency } : {}),
    // Every recipient, as an operator must read it: a value's control and bidi characters escaped, and the ones the
    // policy refuses (look-alikes, invisible characters) marked with why.
    recipients: [...d.counterparties.map(visibly), ...(d.refusedRecipients ?? [])],
    reason_codes: [...new Set(d.reasons.map((r) => r.code))],
    ...(d.risk_snapshot ? { budget: d.risk_snapshot } : {}),
    // The picture above is partial then: a recipient or an amount past the walk's limits is not in it.
    ...(d.incomplete ? { incomplete: d.incomplete.slice(0, MAX_INCOMPLETE_CHARS) } : {}),
  });
}

/** The spec's bound on ApprovalRisk.incomplete (the reason is a short sentence; bounded all the same). */
const MAX_INCOMPLETE_CHARS = 500;

/**
 * The amount the amount_threshold check judged (the action's total, declared or in its params) and the
 * currency it was verified in, from the check's trace; undefined when no threshold applied. An action whose amount is
 * only in its params would otherwise reach an operator as an approval without an amount.
 */
function judgedAmountOf(d: PolicyDecision): { amount: number; currency: string } | undefined {
  const details = d.policy_trace.checks.find((entry) => entry.check === "amount_threshold")?.details;
  if (typeof details?.amount !== "number" || typeof details.currency !== "string") return undefined;
  return { amount: details.amount, currency: details.currency };
}

export function createAuthorize(deps: AuthorizerDeps): Authorize {
  // Each decision is a `policy.decide` span when tracing is on.
  const decide = traceDecide(deps.decide);
  async function escalate(
    orgId: string,
    interactionId: string,
    request: ExecuteRequest,
    d: PolicyDecision,
    at: Date,
    meta: Record<string, unknown>,
  ): Promise<Authorization> {
    if (!deps.escalations) throw new ActionUnavailableError("Approvals are not configured on this gateway");
    const approval = await deps.escalations.escalate(
      {
        org_id: orgId,
        ...approvalBindingOf(request),
        reasons: d.reasons,
        interaction_id: interactionId,
        risk: riskOf(request, d),
        redact: d.manifest?.tools[capabilityOf(request.action)]?.redact,
      },
      (approvalId) => decisionRecord(orgId, interactionId, request, d, meta, approvalId),
    );
    return Object.assign(decisionFields(interactionId, d, at), { approval_id: approval.approval_id });
  }

  /** Budget, approval, claim link and intent in one commit; undefined on a lost budget race (nothing written). */
  async function reserve(
    orgId: string,
    interactionId: string,
    request: ExecuteRequest,
    d: PolicyDecision,
    at: Date,
    meta: Record<string, unknown>,
    claim: IdempotencyClaim | undefined,
  ): Promise<Authorization | undefined> {
    const reserved = await deps.reservations.reserve({
      org_id: orgId,
      interaction_id: interactionId,
      at,
      slots: d.budgetSlots,
      ...(d.approvedBy ? { approval: { approval_id: d.approvedBy, binding: approvalBindingOf(request) } } : {}),
      intent: intentRecord(orgId, interactionId, request, d, meta),
      ...(claim ? { link: claim } : {}),
    });
    if (!reserved.ok) return undefined;
    const call = {
      org_id: orgId,
      interaction_id: interactionId,
      uapk_id: request.uapk_id,
      at,
      slots: d.budgetSlots,
      redact: d.manifest?.tools[capabilityOf(request.action)]?.redact,
      ...(d.counterparties.length > 0 ? { counterparties: d.counterparties } : {}),
      meta,
    };
    return Object.assign(decisionFields(interactionId, d, at), { call });
  }

  return async function authorize(orgId, request, options = {}) {
    const at = deps.now();
    const interactionId = newInteractionId();
    const meta = auditMetaOf(request, options.meta ?? {});
    let approvalRaceLost = false;
    for (let attempt = 1; attempt <= MAX_RESERVATION_ATTEMPTS; attempt++) {
      const d = await decide(orgId, request, at);
      if (d.decision === "DENY") {
        await deps.audit.recordDecision(decisionRecord(orgId, interactionId, request, d, meta));
        return decisionFields(interactionId, d, at);
      }
      if (d.decision === "ESCALATE") return escalate(orgId, interactionId, request, d, at, meta);
      const note = options.gate?.(
        must(
          d.manifest?.tools[capabilityOf(request.action)],
          "an ALLOW comes from a manifest that authorises the tool",
        ),
      );
      if (note) {
        await deps.audit.recordDecision(decisionRecord(orgId, interactionId, request, d, { ...meta, ...note }));
        return Object.assign(decisionFields(interactionId, d, at), { gated: true });
      }
      const reserved = await reserve(orgId, interactionId, request, d, at, meta, options.claim).catch((err) => {
        // Once: a second loss would mean the check still sees an unspent approval, and the 409 is the answer. A
        // keyed call keeps the 409: its claim may have been taken over by a retry (a node that stalled), and a
        // call whose key another call answered must not escalate anew.
        if (approvalRaceLost || options.claim || !isApprovalSpentElsewhere(err)) throw err;
        approvalRaceLost = true;
        return undefined;
      });
      if (reserved) return reserved;
    }
    throw new ActionConflictError("The action's budget is contended; try again", "BUDGET_CONTENDED");
  };
}

/** The reservation's refusal of an approval another call spent after this call's check found it usable. */
function isApprovalSpentElsewhere(err: unknown): boolean {
  return err instanceof ActionConflictError && err.code === "APPROVAL_ALREADY_CONSUMED";
}
