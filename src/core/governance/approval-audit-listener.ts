// Approval verdicts (operator approve / deny, from REST or a session, expiry, and cancellation with the agent
// session that asked) join the org's audit chain, in the interaction that escalated, with the tool's redaction
// applied to the params. The listener runs inside the approval store's transaction that changes the status, so
// the verdict and its record are atomic. An attempt the operator API refuses (self-approval) is recorded too, as a
// `refusal` record: not a verdict, so nothing reading an approval's status from its verdicts mistakes it for one.
import { type Approval, approvalRedactPaths, type DecideResult } from "../approvals";
import type { ApprovalDecisionInput, ApprovalRefusalInput } from "../audit/audit-log";
import type { AuditRecord } from "../audit/record";
import type { ManifestRepository } from "../policy/manifest-repository";
import { capabilityOf } from "../policy/types";
import type { ManifestsService, MaybePromise } from "../ports";
import type { ApprovalsPort } from "./ports";

type Verdict = ApprovalDecisionInput["status"];
const AUDITED: ReadonlySet<string> = new Set<Verdict>(["approved", "denied", "expired", "cancelled"]);

/**
 * The audit record of one verdict, or undefined for a status that is not a verdict (pending, consumed). `current`:
 * the tool's redaction paths now; the approval's own (those in force when it was asked for) apply as well.
 */
export function approvalVerdictRecord(
  approval: Approval,
  current?: readonly string[],
): ApprovalDecisionInput | undefined {
  if (!AUDITED.has(approval.status)) return undefined;
  const expired = approval.status === "expired";
  return {
    ...recordedApproval(approval),
    status: approval.status as Verdict,
    // Nobody decides an expiry; an approval that had been approved (decided_at set) expired unused.
    decided_by: expired ? null : (approval.decided_by ?? "unknown"),
    reason: expired
      ? `Expired at ${approval.expires_at}: ${approval.decided_at ? "approved but never used" : "no operator decision in time"}`
      : approval.decision_reason,
    redact: approvalRedactPaths(approval, current),
  };
}

/** What every audit record about an approval names: it, its interaction (the one that escalated) and its action. */
function recordedApproval(approval: Approval) {
  return {
    org_id: approval.org_id,
    interaction_id: approval.interaction_id ?? approval.approval_id,
    approval_id: approval.approval_id,
    uapk_id: approval.uapk_id,
    agent_id: approval.agent_id,
    action: approval.action,
    reasons: approval.reasons,
  };
}

/**
 * The audit record of a refused attempt at `approval` (see ApprovalRefusalInput), in the interaction that escalated,
 * with the tool's redaction (its paths now, `current`, and those in force when it was asked for).
 */
export function approvalRefusalRecord(
  approval: Approval,
  attempt: Pick<ApprovalRefusalInput, "refused" | "attempted" | "attempted_by">,
  current?: readonly string[],
): ApprovalRefusalInput {
  return {
    ...recordedApproval(approval),
    refused: attempt.refused,
    attempted: attempt.attempted,
    attempted_by: attempt.attempted_by,
    redact: approvalRedactPaths(approval, current),
  };
}

export type RecordRefusal = (
  approval: Approval,
  attempt: Pick<ApprovalRefusalInput, "refused" | "attempted" | "attempted_by">,
) => Promise<void>;

/** Records refused attempts in `audit`, redacted with the tool's paths from `manifests` (either backend). */
export function approvalRefusalRecorder(
  manifests: Pick<ManifestsService, "getByUapkId">,
  audit: { appendApprovalRefusal(input: ApprovalRefusalInput): MaybePromise<AuditRecord> },
): RecordRefusal {
  return async (approval, attempt) => {
    const manifest = await manifests.getByUapkId(approval.org_id, approval.uapk_id);
    const redact = manifest?.tools[capabilityOf(approval.action)]?.redact;
    await audit.appendApprovalRefusal(approvalRefusalRecord(approval, attempt, redact));
  };
}

/** The refusal recorded of each decision the store refuses on an approval of the org: the code the caller gets. */
export const REFUSED_DECISIONS = {
  NOT_PENDING: "APPROVAL_NOT_PENDING",
  EXPIRED: "APPROVAL_EXPIRED",
} as const satisfies Record<"NOT_PENDING" | "EXPIRED", ApprovalRefusalInput["refused"]>;

/**
 * A decision the approvals store refused (`failed`: decided already, or expired) is audited as a `refusal`, as
 * self-approval is: an auditor sees who tried to overturn a verdict, over REST or in an agent session. Once per
 * approval, operator and code (the audit chain keeps the first), so repeating it cannot flood the chain. NOT_FOUND
 * writes nothing: the approval is not this org's (or does not exist), and another org's chain is never written.
 */
export async function recordRefusedDecision(
  approvals: Pick<ApprovalsPort, "get">,
  recordRefusal: RecordRefusal,
  failed: { orgId: string; approvalId: string; result: Extract<DecideResult, { ok: false }> },
  attempt: Pick<ApprovalRefusalInput, "attempted" | "attempted_by">,
): Promise<void> {
  const { code, approval: refusedOne } = failed.result;
  if (code === "NOT_FOUND") return;
  // The store answers the approval it refused to decide (read in its transaction); a store that does not, read now.
  const approval = refusedOne ?? (await approvals.get(failed.orgId, failed.approvalId));
  if (!approval) return;
  await recordRefusal(approval, { refused: REFUSED_DECISIONS[code], ...attempt });
}

/** Subscribes the audit log to the approvals store's verdicts; returns the unsubscribe function. */
export function listenToApprovalVerdicts(
  approvals: ApprovalsPort,
  manifests: Pick<ManifestRepository, "getByUapkId">,
  record: (input: ApprovalDecisionInput) => void,
): (() => void) | undefined {
  return approvals.onDecided?.((approval) => {
    const redact = manifests.getByUapkId(approval.org_id, approval.uapk_id)?.tools[capabilityOf(approval.action)]
      ?.redact;
    const verdict = approvalVerdictRecord(approval, redact);
    if (verdict) record(verdict);
  });
}
