// Store records → the response models of the spec (generated/api-types.ts). The stores keep more than the
// API publishes (binding hashes, consumption); the spec's objects are sealed, so only the declared fields
// leave, and absent (null) optional fields are omitted rather than sent as null.
import type { components } from "../../generated/api-types";
import { approvalRedactPaths, type Approval as StoredApproval, boundedRisk, requestOf } from "../core/approvals";
import { type AuditRecord, type ChainVerification as StoredVerification, redactPaths } from "../core/audit";
import type { ManifestsService } from "../core/ports";
import { capabilityOf } from "../core/policy/types";

type Approval = components["schemas"]["Approval"];
type AgentApproval = components["schemas"]["AgentApproval"];
type Action = components["schemas"]["Action"];
type Reason = components["schemas"]["Reason"];
type InteractionRecord = components["schemas"]["InteractionRecord"];
type PolicyTrace = components["schemas"]["PolicyTrace"];
type ActionResult = components["schemas"]["ActionResult"];
type ChainVerification = components["schemas"]["ChainVerification"];

/** The approval's `context` facts that are fields of the submitted action (src/core/policy/action-hash.ts). */
const ACTION_FACTS = ["amount", "currency", "jurisdiction"] as const;

/**
 * The action as the agent submitted it. The approval store keeps it split for its binding hash —
 * `{type, tool, params}`, the counterparty, and the facts (amount, currency, jurisdiction) as `context` —
 * so it is put back together here.
 */
function submittedAction(approval: StoredApproval): Action {
  const action: Action = {
    type: approval.action.type,
    tool: approval.action.tool,
    params: approval.action.params ?? {},
  };
  if (typeof approval.counterparty === "string") action.counterparty = approval.counterparty;
  const facts = approval.context;
  if (facts && typeof facts === "object") {
    for (const name of ACTION_FACTS) {
      const value = (facts as Record<string, unknown>)[name];
      if (name === "amount" ? typeof value === "number" : typeof value === "string") {
        (action as Record<string, unknown>)[name] = value;
      }
    }
  }
  return action;
}

export function toApproval(approval: StoredApproval): Approval {
  const request = requestOf(approval);
  return {
    approval_id: approval.approval_id,
    status: approval.status,
    uapk_id: approval.uapk_id,
    agent_id: approval.agent_id,
    action: submittedAction(approval),
    reasons: approval.reasons as Reason[],
    created_at: approval.created_at,
    expires_at: approval.expires_at,
    ...(approval.decided_at !== null ? { decided_at: approval.decided_at } : {}),
    ...(approval.decided_by !== null ? { decided_by: approval.decided_by } : {}),
    ...(approval.decision_reason !== null ? { reason: approval.decision_reason } : {}),
    ...(request ? { requested_by: request.by, requested_via: request.via } : {}),
    // Bounded here too: a picture stored before the bound may list every recipient.
    ...(approval.risk ? { risk: boundedRisk(approval.risk) } : {}),
  };
}

/**
 * The agent's view of an approval (spec AgentApproval), from the operator's view (its params already redacted): the
 * fields are listed, not removed, so a field added to Approval for operators never reaches agents unnoticed. Who
 * decided, the operator's note, the person who asked and the risk picture stay the operators'.
 */
export function toAgentApproval(view: Approval): AgentApproval {
  return {
    approval_id: view.approval_id,
    status: view.status,
    uapk_id: view.uapk_id,
    agent_id: view.agent_id,
    action: view.action,
    reasons: view.reasons,
    created_at: view.created_at,
    expires_at: view.expires_at,
    ...(view.decided_at !== undefined ? { decided_at: view.decided_at } : {}),
  };
}

/**
 * An approval as the operator API, the console feed and webhooks show it (see approvalRenderer); `many` renders a
 * page of them with one manifest read per tool's manifest, not one per approval.
 */
export interface ApprovalRenderer {
  (approval: StoredApproval): Promise<Approval>;
  many(approvals: readonly StoredApproval[]): Promise<Approval[]>;
}

type ManifestLookup = (orgId: string, uapkId: string) => ReturnType<ManifestsService["getByUapkId"]>;

/**
 * Approvals with their tool's redaction applied to the params, as the audit log keeps them: the manifest's
 * `redact` paths name values (a card number, an email body) that must not leave the gateway in clear — not to an
 * operator's screen, nor to a webhook's chat channel. The store keeps the params whole: the approval is bound
 * to them and a session's held tool call is rebuilt from them. The paths the tool named when the approval was
 * asked for apply, and so do its current manifest's (approvalRedactPaths): a manifest that drops a path later does
 * not show older approvals' values in clear.
 */
export function approvalRenderer(manifests: Pick<ManifestsService, "getByUapkId">): ApprovalRenderer {
  const one = renderWith((orgId, uapkId) => manifests.getByUapkId(orgId, uapkId));
  const many = (approvals: readonly StoredApproval[]) => {
    // One read per (org, uapk_id) for the whole page, shared by the approvals of that manifest (even while pending).
    const reads = new Map<string, ReturnType<ManifestLookup>>();
    const render = renderWith((orgId, uapkId) => {
      const key = JSON.stringify([orgId, uapkId]);
      let read = reads.get(key);
      if (read === undefined) {
        read = manifests.getByUapkId(orgId, uapkId);
        reads.set(key, read);
      }
      return read;
    });
    return Promise.all(approvals.map(render));
  };
  return Object.assign(one, { many });
}

function renderWith(lookup: ManifestLookup): (approval: StoredApproval) => Promise<Approval> {
  return async (approval) => {
    const view = toApproval(approval);
    const manifest = await lookup(approval.org_id, approval.uapk_id);
    const redact = approvalRedactPaths(approval, manifest?.tools[capabilityOf(approval.action)]?.redact);
    if (redact.length === 0) return view;
    const params = redactPaths("params", view.action.params, redact.map(everyParamWhenWhole));
    return { ...view, action: { ...view.action, params: params as Action["params"] } };
  };
}

/** `params` names them all: each value is redacted and the object stays one (the spec's Action.params is one). */
const everyParamWhenWhole = (path: string) => (path === "params" ? "params.*" : path);

/**
 * One audit record as the spec's InteractionRecord. An `outcome` record stores only what is new (the result);
 * the spec requires the action, decision and reasons on every record, so for an outcome they are taken from
 * `intent`, the record that opened the same interaction. The chain fields (seq, hashes, signature) are always
 * the record's own; verification works on the export, which carries the stored records unchanged.
 */
export function toInteractionRecord(record: AuditRecord, intent?: AuditRecord): InteractionRecord {
  const policyTrace = record.policy_trace ?? intent?.policy_trace ?? null;
  return {
    interaction_id: record.interaction_id,
    org_id: record.org_id,
    seq: record.seq,
    kind: record.kind,
    timestamp: record.timestamp,
    // Null only if a writer recorded no agent or action: emitted as stored, never invented (see the report
    // on the spec: these should be nullable).
    uapk_id: (record.uapk_id ?? intent?.uapk_id) as string,
    agent_id: (record.agent_id ?? intent?.agent_id) as string,
    // Absent on a token's issue / revocation record: no action was asked for, nothing decided.
    ...optional("action", (record.action ?? intent?.action ?? undefined) as Action | undefined),
    ...optional("decision", (record.decision ?? intent?.decision ?? undefined) as InteractionRecord["decision"]),
    reasons: (record.reasons ?? intent?.reasons ?? []) as Reason[],
    ...(policyTrace !== null ? { policy_trace: policyTrace as PolicyTrace } : {}),
    ...(record.result !== null ? { result: record.result as ActionResult } : {}),
    // The record's own: an outcome already carries its intent's approval_id; `executed` is null on an intent.
    ...(record.approval_id !== null ? { approval_id: record.approval_id } : {}),
    ...(record.executed !== null ? { executed: record.executed } : {}),
    ...(isPlainObject(record.meta) ? { meta: record.meta } : {}),
    prev_hash: record.prev_hash,
    hash: record.hash,
    kid: record.kid,
    signature: record.signature,
  };
}

/** `{ [key]: value }`, or nothing when the value is absent (the spec's optional fields are never null). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function toChainVerification(result: StoredVerification): ChainVerification {
  if (result.valid) return { valid: true, records: result.records };
  return {
    valid: false,
    records: result.records,
    ...(result.first_invalid_seq !== null ? { first_invalid_seq: result.first_invalid_seq } : {}),
    reason: result.reason,
  };
}
