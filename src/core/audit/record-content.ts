// What each kind of audit record holds (intent, decision, outcome, approval), built from what the engine asks to
// append: ONE definition for both backends (the embedded chain in ./audit-log.ts and the shared store's in
// src/core/store/shared/audit-chain.ts), so a record written on either verifies and reads the same. Pure: no
// database, no signing; the chains add org, seq, timestamp, prev_hash and kid, then hash and sign.
import type {
  ActionInput,
  ApprovalDecisionInput,
  ApprovalRefusalInput,
  DecisionInput,
  IntentInput,
  OutcomeInput,
  TokenRecordInput,
} from "./audit-inputs";
import { boundMembers, boundValue, setOwn } from "./bound";
import { type AuditRecord, jsonValue, type UnsignedAuditRecord } from "./record";
import { redactPaths } from "./redact";

export type Content = Omit<UnsignedAuditRecord, "org_id" | "seq" | "timestamp" | "prev_hash" | "kid">;

/** What an outcome needs to know of the records its interaction already has. */
export type InteractionRow = Pick<AuditRecord, "kind" | "uapk_id" | "agent_id" | "decision" | "approval_id">;

/** An intent records an ALLOW about to be carried out (written before the connector runs). */
export function intentContent(input: IntentInput): Content {
  if (input.decision !== "ALLOW") {
    throw new Error(`appendIntent: an intent records an ALLOW about to execute, got ${input.decision}`);
  }
  return decided(input, "intent", null);
}

/** A DENY or ESCALATE of `execute`: nothing ran. */
export function decisionContent(input: DecisionInput): Content {
  return decided(input, "decision", false);
}

/**
 * The outcome record of an interaction, refused without its intent or when it already has an outcome. The
 * caller reads `records` (the interaction's records) under the same write lock as the append: no second outcome.
 */
export function outcomeContent(input: OutcomeInput, records: readonly InteractionRow[]): Content {
  const intent = records.find((r) => r.kind === "intent");
  if (!intent) throw new Error(`appendOutcome: no intent recorded for ${input.interaction_id}`);
  if (records.some((r) => r.kind === "outcome")) {
    throw new Error(`appendOutcome: outcome of ${input.interaction_id} already recorded`);
  }
  const stored = storedResult(
    redactPaths("result", jsonValue(input.result), input.redact) ?? null,
    storedMeta(jsonValue(input.meta)),
  );
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
    result: stored.result,
    meta: stored.meta,
  };
}

/** An approval's verdict, in the interaction that escalated (expired / cancelled / denied are recorded as DENY). */
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
  };
}

/**
 * A refused attempt at an approval (ApprovalRefusalInput), in the interaction that escalated: `decision` DENY (the
 * attempt was refused), the escalation's reasons, and in `meta` what was tried, by whom and why it was refused. No
 * `approval_status`: the approval did not change, and its status is read from `approval` records only.
 */
export function refusalContent(input: ApprovalRefusalInput): Content {
  return {
    kind: "refusal",
    interaction_id: input.interaction_id,
    uapk_id: input.uapk_id,
    agent_id: input.agent_id,
    action: redactedAction(input.action, input.redact),
    decision: "DENY",
    reasons: jsonValue(input.reasons),
    policy_trace: null,
    approval_id: input.approval_id,
    executed: false,
    result: null,
    meta: { refused: input.refused, attempted: input.attempted, attempted_by: input.attempted_by },
  };
}

/**
 * The refusal already recorded of the same approval, operator and code, if any: a refused attempt is recorded once, so
 * an operator repeating it (or scripting it) cannot flood the chain. The chains read the interaction's records and
 * append under the same lock, so racing repeats write one record too.
 */
export function sameRefusal<R extends Pick<AuditRecord, "kind" | "approval_id" | "meta">>(
  records: readonly R[],
  input: ApprovalRefusalInput,
): R | undefined {
  return records.find((r) => {
    const meta = (r.meta ?? {}) as { refused?: unknown; attempted_by?: unknown };
    return (
      r.kind === "refusal" &&
      r.approval_id === input.approval_id &&
      meta.refused === input.refused &&
      meta.attempted_by === input.attempted_by
    );
  });
}

/**
 * A capability token issued or revoked (TokenRecordInput): in the interaction named by the token's id, with no action
 * nor decision (nothing was asked of the policy), and in `meta` what the token is and who is accountable for it.
 */
export function tokenContent(input: TokenRecordInput): Content {
  const { kind, org_id: _org, uapk_id, agent_id, ...meta } = input;
  return {
    kind,
    interaction_id: input.token_id,
    uapk_id,
    agent_id,
    action: null,
    decision: null,
    reasons: null,
    policy_trace: null,
    approval_id: null,
    executed: null,
    result: null,
    meta: jsonValue(meta),
  };
}

/**
 * A decision-bearing record (intent, decision) from its input, as one literal: `{ ...fields, kind, … }` took V8's
 * slow path on Node 20 (about 0.6 µs per property added after a spread: 3 µs of every intent).
 */
function decided(input: IntentInput | DecisionInput, kind: "intent" | "decision", executed: false | null): Content {
  const stored = storedAction(redactedAction(input.action, input.redact), storedMeta(jsonValue(input.meta)));
  return {
    kind,
    interaction_id: input.interaction_id,
    uapk_id: input.uapk_id,
    agent_id: input.agent_id,
    action: stored.action,
    meta: stored.meta,
    decision: input.decision,
    reasons: jsonValue(input.reasons),
    policy_trace: jsonValue(input.policy_trace),
    approval_id: input.approval_id ?? null,
    executed,
    result: null,
  };
}

/** The action as JSON, its params redacted with the tool's `redact` paths (before hashing and storing). */
function redactedAction(action: ActionInput | null, redact?: readonly string[]): unknown {
  if (!action) return null;
  const normalised = jsonValue(action) as ActionInput;
  if (normalised.params !== undefined) normalised.params = redactPaths("params", normalised.params, redact) as never;
  return normalised;
}

/** Marks in meta which stored values are summaries (hash + preview) instead of the values sent. */
function withTruncated(meta: unknown, truncated: string[]): unknown {
  if (!truncated.length) return meta;
  const base = (meta !== null && typeof meta === "object" && !Array.isArray(meta) ? meta : {}) as {
    truncated?: string[];
  };
  return { ...base, truncated: [...(base.truncated ?? []), ...truncated] };
}

/**
 * Meta as stored: the request's free-form `context` is the agent's, as its params are, and is bounded the same
 * way (an unbounded context made every record of the interaction as large as the body allows).
 */
export function storedMeta(meta: unknown): unknown {
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) return meta;
  const { context, ...rest } = meta as { context?: unknown };
  if (context === undefined) return meta;
  const bounded = boundMembers("meta.context", context);
  return withTruncated(Object.assign(rest, { context: bounded.value }), bounded.truncated);
}

/** The action as stored: its params bounded (see bound.ts), and meta naming what was summarised. */
export function storedAction(action: unknown, meta: unknown): { action: unknown; meta: unknown } {
  if (action === null || typeof action !== "object") return { action, meta };
  const { params, ...rest } = action as { params?: unknown };
  if (params === undefined) return { action, meta };
  const bounded = boundMembers("params", params);
  const stored = Object.assign(rest, { params: bounded.value });
  // Identifying fields an agent controls are bounded as well (the spec bounds them at the REST boundary; the
  // sessions door and direct engine callers may not).
  for (const key of ["type", "tool", "counterparty", "jurisdiction", "currency"] as const) {
    const value = (stored as Record<string, unknown>)[key];
    if (typeof value === "string" && value.length > 1024) {
      (stored as Record<string, unknown>)[key] = boundValue(value, 1024);
      bounded.truncated.push(key);
    }
  }
  return { action: stored, meta: withTruncated(meta, bounded.truncated) };
}

/** The connector's result as stored: its data bounded, and meta naming what was summarised. */
export function storedResult(result: unknown, meta: unknown): { result: unknown; meta: unknown } {
  if (result === null || typeof result !== "object") return { result, meta };
  const truncated: string[] = [];
  const stored: Record<string, unknown> = { ...(result as Record<string, unknown>) };
  for (const [key, value] of Object.entries(stored)) {
    if (key === "data") {
      // boundMembers names what it summarised; its copy of an object within bounds is not a summary.
      const bounded = boundMembers("result.data", value);
      setOwn(stored, key, bounded.value);
      truncated.push(...bounded.truncated);
      continue;
    }
    const bounded = boundValue(value);
    setOwn(stored, key, bounded);
    if (bounded !== value) truncated.push(`result.${key}`);
  }
  return { result: stored, meta: withTruncated(meta, truncated) };
}
