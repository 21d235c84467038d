// The content of each kind of record of the shared audit chain (intent, decision, outcome, approval), built from
// what the engine asks to append, and a stored row read back as a record. Pure: no database, no signing.
import {
  storedAction,
  storedResult,
  type ActionInput,
  type ApprovalDecisionInput,
  type DecisionInput,
  type IntentInput,
  type OutcomeInput,
} from "../../audit/audit-log";
import { jsonValue, type AuditRecord, type UnsignedAuditRecord } from "../../audit/record";
import { redactPaths } from "../../audit/redact";

export type Content = Omit<UnsignedAuditRecord, "org_id" | "seq" | "timestamp" | "prev_hash" | "kid">;

/** What an outcome needs to know of the records its interaction already has. */
export type InteractionRow = Pick<AuditRecord, "kind" | "uapk_id" | "agent_id" | "decision" | "approval_id">;

/** An intent records an ALLOW about to be carried out. */
export function intentContent(input: IntentInput): Content {
  if (input.decision !== "ALLOW") throw new Error(`appendIntent: an intent records an ALLOW, got ${input.decision}`);
  return {
    ...decided(input),
    kind: "intent",
    uapk_id: input.uapk_id,
    agent_id: input.agent_id,
    executed: null,
  } as Content;
}

export const decisionContent = (input: DecisionInput): Content =>
  ({
    ...decided(input),
    kind: "decision",
    uapk_id: input.uapk_id,
    agent_id: input.agent_id,
    executed: false,
  }) as Content;

/** The outcome record of an interaction, refused without its intent or when it already has an outcome. */
export function outcomeContent(input: OutcomeInput, records: InteractionRow[]): Content {
  const intent = records.find((r) => r.kind === "intent");
  if (!intent) throw new Error(`appendOutcome: no intent recorded for ${input.interaction_id}`);
  if (records.some((r) => r.kind === "outcome"))
    throw new Error(`appendOutcome: outcome of ${input.interaction_id} already recorded`);
  return {
    kind: "outcome",
    interaction_id: input.interaction_id,
    uapk_id: intent.uapk_id,
    agent_id: intent.agent_id,
    action: null,
    decision: intent.decision,
    reasons: null,
    policy_trace: null,
    approval_id: intent.approval_id,
    executed: input.executed,
    ...(storedResult(redactPaths("result", jsonValue(input.result), input.redact) ?? null, jsonValue(input.meta)) as {
      result: unknown;
      meta: unknown;
    }),
  } as Content;
}

export function approvalContent(input: ApprovalDecisionInput): Content {
  return {
    kind: "approval",
    interaction_id: input.interaction_id,
    uapk_id: input.uapk_id,
    agent_id: input.agent_id,
    action: redactedAction(input.action, input.redact),
    decision: input.status === "approved" ? "ALLOW" : "DENY",
    reasons: jsonValue(input.reasons),
    policy_trace: null,
    approval_id: input.approval_id,
    executed: false,
    result: null,
    meta: { approval_status: input.status, decided_by: input.decided_by, reason: input.reason ?? null },
  } as Content;
}

/** The fields every decision-bearing record (intent, decision) takes from its input. */
function decided(input: IntentInput | DecisionInput) {
  return {
    interaction_id: input.interaction_id,
    ...(storedAction(redactedAction(input.action, input.redact), jsonValue(input.meta)) as {
      action: unknown;
      meta: unknown;
    }),
    decision: input.decision,
    reasons: jsonValue(input.reasons),
    policy_trace: jsonValue(input.policy_trace),
    approval_id: input.approval_id ?? null,
    result: null,
  };
}

function redactedAction(action: ActionInput | null, redact?: readonly string[]): unknown {
  if (!action) return null;
  const normalised = jsonValue(action) as ActionInput;
  if (normalised.params !== undefined) normalised.params = redactPaths("params", normalised.params, redact) as never;
  return normalised;
}

// biome-ignore lint/suspicious/noExplicitAny: a row as the driver returns it.
export function fromRow(row: any): AuditRecord {
  const parse = (text: string | null) => (text === null ? null : JSON.parse(text));
  return {
    org_id: row.org_id,
    seq: Number(row.seq),
    kind: row.kind,
    interaction_id: row.interaction_id,
    timestamp: row.timestamp,
    uapk_id: row.uapk_id,
    agent_id: row.agent_id,
    action: parse(row.action),
    decision: row.decision,
    reasons: parse(row.reasons),
    policy_trace: parse(row.policy_trace),
    approval_id: row.approval_id,
    executed: row.executed === null ? null : Number(row.executed) === 1,
    result: parse(row.result),
    meta: parse(row.meta),
    prev_hash: row.prev_hash,
    kid: row.kid,
    hash: row.hash,
    // "" is stored for a record proven by a later record's signature (grouped appends sign once per batch).
    signature: row.signature === "" || row.signature === null ? null : row.signature,
  };
}
