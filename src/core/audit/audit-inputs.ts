// What callers hand the audit log and what its queries answer: the input and page types of both backends' audit
// (./audit-log.ts, src/core/store/shared/audit-chain.ts), apart from the log itself so that the row codec, the
// queries and the record contents can use them without importing the log (no import circle).
import type { AuditRecord, AuditRecordKind, Decision, UnsignedAuditRecord } from "./record";

export interface ActionInput {
  type: string;
  tool: string;
  params?: Record<string, unknown>;
}

/** What every decision-bearing record carries (intent and decision records). */
interface DecidedInput {
  org_id: string;
  interaction_id: string;
  decision: Decision;
  reasons: unknown[];
  policy_trace: unknown;
  /** The approval consumed (intent) or created (ESCALATE decision), if any. */
  approval_id?: string | null;
  /** Tool configuration's `redact` paths (`params.…`), applied before hashing and storing. */
  redact?: readonly string[] | undefined;
  /** Free-form context worth keeping (channel, batch_id, action_id, idempotency key, risk snapshot…). */
  meta?: Record<string, unknown>;
}

/** Written before a connector runs; `decision` must be ALLOW. */
export interface IntentInput extends DecidedInput {
  uapk_id: string;
  agent_id: string;
  action: ActionInput;
}

export interface OutcomeInput {
  org_id: string;
  interaction_id: string;
  executed: boolean;
  result: unknown;
  /** Tool configuration's `redact` paths (`result.…`), e.g. `result.data.body` for an echoing tool. */
  redact?: readonly string[] | undefined;
  meta?: Record<string, unknown>;
}

/** A DENY or ESCALATE of `execute` (nothing ran); the request may not even name a manifest. */
export interface DecisionInput extends DecidedInput {
  uapk_id: string | null;
  agent_id: string | null;
  action: ActionInput | null;
}

/**
 * An approval's verdict (src/core/approvals), recorded in the escalated interaction: an operator's approve /
 * deny, or its expiry (`decided_by` null; recorded as DENY, since nothing was authorised).
 */
export interface ApprovalDecisionInput {
  org_id: string;
  /** The ESCALATE interaction that asked for the approval. */
  interaction_id: string;
  approval_id: string;
  uapk_id: string;
  agent_id: string;
  /** The approved/denied action, params redacted with the tool's `redact` paths. */
  action: ActionInput;
  /** Why the policy escalated (the approval's reasons). */
  reasons: unknown[];
  /** `cancelled`: the agent session that asked was cancelled or abandoned (decided by `gatehouse`). */
  status: "approved" | "denied" | "expired" | "cancelled";
  decided_by: string | null;
  reason?: string | null;
  redact?: readonly string[] | undefined;
}

/**
 * An attempt at an approval that the gateway refused, recorded in the escalated interaction: `SELF_APPROVAL`, an
 * operator approving the action they asked for (src/core/approvals/requester.ts); `APPROVAL_NOT_PENDING` /
 * `APPROVAL_EXPIRED`, a decision on an approval already decided or expired (over REST or in an agent session);
 * `INVALID_CALL_ID`, an agent session's hitl_decision naming a pending approval that is not its call's own (another
 * call's, another user's). NOT a verdict: the approval's status is
 * unchanged, so it is a record of its own kind (`refusal`), which nothing that derives an approval's status from its
 * verdicts (`approval` records) reads. Bounded: one record per approval, operator and code (sameRefusal).
 */
export interface ApprovalRefusalInput extends Omit<ApprovalDecisionInput, "status" | "decided_by" | "reason"> {
  /** Why it was refused (the problem code the caller got). */
  refused: "SELF_APPROVAL" | "APPROVAL_NOT_PENDING" | "APPROVAL_EXPIRED" | "INVALID_CALL_ID";
  /** What was attempted (the first such attempt: repeats are not recorded); `edit`: an agent session's. */
  attempted: "approve" | "deny" | "edit";
  /** Who attempted it (the operator's JWT `sub`). */
  attempted_by: string;
}

/**
 * An operator issuing or revoking a capability token (src/core/policy/tokens), recorded in an interaction of its own
 * named by the token's id. What it names of the token, never the token (the JWT) itself: anyone who reads the log
 * could use it. Recipients are counted, not listed (personal data; evidence bundles show the same).
 */
export type TokenRecordInput = TokenIssuedInput | TokenRevokedInput;

interface TokenNamed {
  org_id: string;
  token_id: string;
  uapk_id: string;
  agent_id: string;
  manifest_id: string;
}

export interface TokenIssuedInput extends TokenNamed {
  kind: "token_issued";
  /** The JWT's `iss`: a label the issuer chose. */
  issuer_id: string;
  /** The operator (their `sub`) who issued it. */
  issued_by: string;
  capabilities: string[];
  max_actions?: number | undefined;
  allowed_recipients_count?: number | undefined;
  issued_at: string;
  expires_at: string;
}

export interface TokenRevokedInput extends TokenNamed {
  kind: "token_revoked";
  /** The operator (their `sub`) who revoked it. */
  revoked_by: string;
  revoked_at: string;
  reason: string | null;
}

export interface AuditListFilter {
  agent_id?: string | undefined;
  decision?: Decision | undefined;
  kind?: AuditRecordKind;
  /** Records with a reason of this code; an outcome (which stores no reasons) matches through its intent. */
  reason_code?: string;
  /** Inclusive ISO 8601 lower bound on `timestamp`. */
  since?: string | undefined;
  /** Exclusive ISO 8601 upper bound on `timestamp`. */
  until?: string | undefined;
  /** Opaque cursor from a previous page's `next_cursor`. */
  cursor?: string | undefined;
  /** 1–500, default 50. */
  limit?: number | undefined;
}

export interface AuditPage {
  records: AuditRecord[];
  next_cursor: string | null;
}

/**
 * A recorded action as shadow replay reads it: the fields it always needs parsed, the policy trace and meta kept as
 * their stored JSON text (most replays never look inside them; parsing them was a large share of the replay's time).
 */
export interface RecordedAction
  extends Pick<
    UnsignedAuditRecord,
    | "seq"
    | "kind"
    | "interaction_id"
    | "timestamp"
    | "uapk_id"
    | "agent_id"
    | "action"
    | "decision"
    | "reasons"
    | "approval_id"
  > {
  policy_trace_json: string | null;
  meta_json: string | null;
}
