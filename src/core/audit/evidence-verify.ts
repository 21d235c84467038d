// Offline verification of an evidence bundle (src/core/governance/evidence.ts) with nothing but the JWKS.
//
// 1. The proof: the chain head is signed by an audit key; the chain segment is intact (every record's hash and
//    signature, every prev_hash link) and ends exactly at the head; everything is the bundle's org.
// 2. Every section is what the signed records say: action and decision (the interaction's intent or decision
//    record), manifest (its content hashes to the `manifest_hash` that record's trace signed, same id and version),
//    approval (the signed escalation: why, when, where; the first signed verdict: who, when, why; the status: the
//    last verdict, or consumed by the signed intent that used it), outcome (the outcome record), token (the id the
//    trace signed; its claims, issuer and revocation by its own signed records, ./evidence-token.ts), involved_seqs
//    (exactly those records). What no record signs is named as the gateway's statement in what it proves: the
//    claims of a token issued before token records were signed, a manifest version's author and dates.
// The first thing that does not hold is named: "decision: …", "approval: decided_by …", "manifest: …".
import { canonicalJson, sha256Canonical } from "./canonical";
import { type ChainHead, chainHeadProblem } from "./chain-head";
import { checkTokenSection } from "./evidence-token";
import { quoted, shown } from "./printable";
import type { AuditRecord } from "./record";
import { type PublicKeyLookup, verifySegment } from "./verify";

export type EvidenceVerification = { valid: true; proves: string[] } | { valid: false; reason: string };

/** The bundle's fields (spec/orgs.tsp EvidenceBundle; ./evidence-verify.test.ts holds it to the OpenAPI document). */
export const BUNDLE_FIELDS = [
  "format",
  "org_id",
  "interaction_id",
  "generated_at",
  "uapk_id",
  "agent_id",
  "action",
  "decision",
  "manifest",
  "capability_token",
  "approval",
  "outcome",
  "proof",
];

/**
 * The fields each section may hold (spec/orgs.tsp, Evidence*: closed models; ./evidence-verify.test.ts holds them to
 * the OpenAPI document, so the verifier cannot drift from the spec). A field the spec does not have is
 * neither checked against a signed record nor named as the gateway's statement, so a bundle carrying one (an
 * approval's "second_approver", an outcome's "refunded") would pass with a claim nothing vouches for.
 */
export const SECTION_FIELDS: Record<string, readonly string[]> = {
  decision: ["decision", "reasons", "policy_trace", "decided_at"],
  manifest: ["manifest_id", "version", "content_hash", "status", "change", "author", "created_at", "content"],
  capability_token: [
    "token_id",
    "issuer_id",
    "issued_by",
    "agent_id",
    "manifest_id",
    "capabilities",
    "max_actions",
    "allowed_recipients_count",
    "issued_at",
    "expires_at",
    "revoked",
    "revoked_at",
    "revoked_by",
  ],
  approval: [
    "approval_id",
    "status",
    "escalated_interaction_id",
    "reasons",
    "requested_at",
    "decided_by",
    "decided_at",
    "reason",
  ],
  outcome: ["executed", "result", "recorded_at"],
  proof: ["chain", "involved_seqs", "chain_head", "token_records"],
};

type Json = Record<string, unknown>;

class Broken extends Error {}

const fail = (reason: string): never => {
  throw new Broken(reason);
};

const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function verifyEvidence(bundle: unknown, publicKeyFor: PublicKeyLookup): EvidenceVerification {
  try {
    return { valid: true, proves: check(bundle, publicKeyFor) };
  } catch (err) {
    if (err instanceof Broken) return { valid: false, reason: err.message };
    return { valid: false, reason: `bundle is malformed: ${(err as Error).message}` };
  }
}

function check(bundle: unknown, publicKeyFor: PublicKeyLookup): string[] {
  if (!isObject(bundle)) return fail("bundle: not a JSON object");
  if (bundle.format !== "gatehouse.evidence.v1") fail("bundle: format is not gatehouse.evidence.v1");
  const extra = Object.keys(bundle).filter((k) => !BUNDLE_FIELDS.includes(k));
  if (extra.length) fail(`bundle: unexpected field(s) ${extra.join(", ")}`);
  checkSectionFields(bundle);
  const orgId = bundle.org_id;
  const interactionId = bundle.interaction_id;
  if (typeof orgId !== "string" || typeof interactionId !== "string") fail("bundle: org_id / interaction_id missing");

  const { chain, head } = checkProof(bundle, orgId as string, publicKeyFor);
  const own = chain.filter((r) => r.interaction_id === interactionId);
  const opening = own.find((r) => r.kind === "intent" || r.kind === "decision");
  if (!opening) return fail(`proof: no signed intent or decision record of interaction ${String(interactionId)}`);

  const proves = [
    `chain: ${chain.length} record(s) of org ${String(orgId)} from seq ${chain[0]?.seq} to the chain head at seq ${head.seq}, signed ${head.signed_at} by audit key ${head.kid}: intact, linked, nothing cut at the end`,
  ];
  proves.push(...checkGeneratedAt(bundle, head));
  proves.push(...checkDecision(bundle, opening));
  proves.push(...checkManifest(bundle, opening));
  proves.push(...checkTokenSection(bundle, opening, head, publicKeyFor, fail));
  proves.push(...checkApproval(bundle, opening, chain));
  proves.push(...checkOutcome(bundle, own));
  checkInvolved(bundle, own, opening, chain);
  return proves;
}

/** Every section present holds only the fields of its model: the first stray one is named with its section. */
function checkSectionFields(bundle: Json): void {
  for (const [section, fields] of Object.entries(SECTION_FIELDS)) {
    const value = bundle[section];
    if (!isObject(value)) continue; // missing or malformed: the section's own check names it
    const extra = Object.keys(value).filter((k) => !fields.includes(k));
    if (extra.length) fail(`${section}: unexpected field(s) ${extra.join(", ")}`);
  }
}

/**
 * `involved_seqs` is exactly the interaction's own records and those of the approval it names (its escalation, every
 * verdict, the intent that used it): a reader who follows it must land on the records the sections were checked
 * against, no other.
 */
function checkInvolved(bundle: Json, own: AuditRecord[], opening: AuditRecord, chain: AuditRecord[]): void {
  const approvalId = opening.approval_id;
  // As checkApproval found them, not every record that names the approval: a re-submit while it was pending is a
  // decision record naming it too.
  const trail = approvalId ? approvalTrail(chain, approvalId) : undefined;
  const approvalRecords = trail ? [trail.asked, ...trail.verdicts, trail.use] : [];
  const involved = [...own, ...approvalRecords.filter((r): r is AuditRecord => r !== undefined)];
  const expected = [...new Set(involved.map((r) => r.seq))].sort((a, b) => a - b);
  if (!same((bundle.proof as Json).involved_seqs, expected))
    fail(`proof: involved_seqs is not this interaction's records and its approval's (seq ${expected.join(", ")})`);
}

function checkProof(bundle: Json, orgId: string, publicKeyFor: PublicKeyLookup) {
  const proof = bundle.proof;
  if (!isObject(proof)) return fail("proof: missing");
  const headProblem = chainHeadProblem(proof.chain_head, publicKeyFor);
  if (headProblem) fail(`proof: ${headProblem}`);
  const head = proof.chain_head as ChainHead;
  if (head.org_id !== orgId) fail("proof: the chain head is another org's");
  if (!Array.isArray(proof.chain) || proof.chain.length === 0) fail("proof: no audit records");
  const chain = proof.chain as AuditRecord[];
  const segment = verifySegment(chain, publicKeyFor);
  if (!segment.valid) fail(`proof: audit record seq ${segment.seq ?? "?"}: ${segment.reason}`);
  if (chain.some((r) => r.org_id !== orgId)) fail("proof: records of another org");
  const last = chain[chain.length - 1] as AuditRecord;
  if (last.seq !== head.seq || last.hash !== head.hash)
    fail(
      `proof: the records end at seq ${last.seq}, not at the signed chain head (seq ${head.seq}): records were cut or replaced`,
    );
  const seqs = new Set(chain.map((r) => r.seq));
  if (!Array.isArray(proof.involved_seqs) || proof.involved_seqs.some((s) => !seqs.has(s as number)))
    fail("proof: involved_seqs names records that are not in the chain");
  return { chain, head };
}

/**
 * `generated_at` is signed by nothing but the chain head's `signed_at`, which the gateway writes there: any other
 * value is the gateway's statement (a bundle of an older gateway: a moment later), and one before the head was
 * signed is no bundle's moment at all.
 */
function checkGeneratedAt(bundle: Json, head: ChainHead): string[] {
  const at = bundle.generated_at;
  if (at === head.signed_at) return [];
  const time = typeof at === "string" ? Date.parse(at) : Number.NaN;
  if (Number.isNaN(time)) return fail("bundle: generated_at is not a date-time");
  if (time < Date.parse(head.signed_at))
    fail(
      `bundle: generated_at ${shown(at)} is before the chain head it closes with was signed (${shown(head.signed_at)})`,
    );
  return [
    `generated_at ${shown(at)} is the gateway's statement; the signed moment is the chain head's, ${shown(head.signed_at)}`,
  ];
}

function checkDecision(bundle: Json, opening: AuditRecord): string[] {
  const where = `the signed ${opening.kind} record (seq ${opening.seq})`;
  if (!same(bundle.action, opening.action)) fail(`action: differs from ${where}`);
  if (bundle.uapk_id !== (opening.uapk_id ?? undefined) || bundle.agent_id !== (opening.agent_id ?? undefined))
    fail(`agent: uapk_id / agent_id differ from ${where}`);
  const decision = bundle.decision;
  if (!isObject(decision)) return fail("decision: missing");
  if (decision.decision !== opening.decision) fail(`decision: ${String(decision.decision)} is not what ${where} says`);
  if (!same(decision.reasons, opening.reasons ?? [])) fail(`decision: reasons differ from ${where}`);
  if (!same(decision.policy_trace, opening.policy_trace)) fail(`decision: policy trace differs from ${where}`);
  if (decision.decided_at !== opening.timestamp) fail(`decision: decided_at differs from ${where}`);
  return [
    `decision: ${shown(opening.decision)} of ${describeAction(opening.action)} by agent ${shown(opening.agent_id ?? "?")} at ${shown(opening.timestamp)}, with its policy trace`,
  ];
}

function describeAction(action: unknown): string {
  const a = (action ?? {}) as { type?: unknown; tool?: unknown };
  return shown(`${String(a.type)}:${String(a.tool)}`);
}

function traceDetails(record: AuditRecord, check: string): Json | undefined {
  const checks = (record.policy_trace as { checks?: { check: string; details?: Json }[] } | null)?.checks ?? [];
  return checks.find((c) => c.check === check)?.details;
}

function checkManifest(bundle: Json, opening: AuditRecord): string[] {
  const signed = traceDetails(opening, "manifest_validation");
  const version = signed?.manifest_version;
  const manifest = bundle.manifest;
  if (version === undefined) {
    if (manifest !== undefined) fail("manifest: the signed decision names no manifest version");
    return [];
  }
  if (!isObject(manifest)) return fail(`manifest: version ${String(version)} the decision used is missing`);
  if (manifest.manifest_id !== signed?.manifest_id || manifest.version !== version)
    fail(`manifest: not the id/version the signed decision used (${String(signed?.manifest_id)} v${String(version)})`);
  const hash = sha256Canonical(manifest.content);
  if (hash !== signed?.manifest_hash)
    fail("manifest: content does not hash to the manifest_hash the signed decision recorded (content was changed)");
  if (manifest.content_hash !== hash) fail("manifest: content_hash is not the hash of the content");
  return [
    `manifest: ${String(manifest.manifest_id)} version ${String(version)} (sha256 ${hash}) is the content applied (its author, created_at, change and status are the gateway's statement)`,
  ];
}

function checkApproval(bundle: Json, opening: AuditRecord, chain: AuditRecord[]): string[] {
  const approval = bundle.approval;
  const approvalId = opening.approval_id;
  if (!approvalId) {
    if (approval !== undefined) fail("approval: the signed decision involves no approval");
    return [];
  }
  if (!isObject(approval) || approval.approval_id !== approvalId)
    return fail(`approval: not approval ${approvalId}, which the signed decision names`);
  const trail = approvalTrail(chain, approvalId);
  // Without the escalation, a bundle cut to start after it still verified "approved by alice" and never said why
  // approval was asked for.
  checkEscalation(approval, approvalId, trail.asked);
  const asked = trail.asked as AuditRecord;
  // Verdicts are recorded in the interaction that escalated: another interaction's ESCALATE naming the approval (a
  // re-submit while it was pending) cannot stand in for the escalation cut from the proof.
  const stray = trail.verdicts.find((v) => v.interaction_id !== asked.interaction_id);
  if (stray) fail(`approval: the signed verdict (seq ${stray.seq}) is not in the escalated interaction`);
  const verdict = trail.verdicts[0];
  const meta = verdictMeta(verdict);
  if (opening.kind === "intent" && meta.approval_status !== "approved")
    fail("approval: the action ran under an approval, but the proof holds no signed approved verdict");
  const status = approvalStatusOf(trail.verdicts, trail.use !== undefined);
  if (approval.status !== status) fail(`approval: status ${String(approval.status)} is not ${statusSource(trail)}`);
  if (!verdict) {
    if (approval.decided_by !== undefined || approval.decided_at !== undefined)
      fail("approval: decided_by/decided_at given, but the proof holds no signed verdict");
    return [`approval: ${shown(approvalId)} was requested (no verdict recorded)`];
  }
  // decided_by / decided_at / reason are the first verdict's: the operator's decision (or the expiry of a pending one).
  if (approval.decided_by !== (meta.decided_by ?? undefined))
    fail(`approval: decided_by differs from the signed verdict (seq ${verdict.seq})`);
  if (approval.decided_at !== verdict.timestamp)
    fail(`approval: decided_at differs from the signed verdict (seq ${verdict.seq})`);
  if (approval.reason !== (meta.reason ?? undefined))
    fail(`approval: reason differs from the signed verdict (seq ${verdict.seq})`);
  return [`approval: ${shown(approvalId)} ${describeTrail(trail)}`];
}

/** The records of one approval in the proof: its escalation, its verdicts in chain order, the intent that used it. */
interface ApprovalTrail {
  asked: AuditRecord | undefined;
  verdicts: AuditRecord[];
  use: AuditRecord | undefined;
}

function approvalTrail(chain: AuditRecord[], approvalId: string): ApprovalTrail {
  return {
    asked: escalationOf(chain, approvalId),
    verdicts: chain.filter((r) => r.kind === "approval" && r.approval_id === approvalId),
    // An approval is used once: the one intent naming it.
    use: chain.find((r) => r.kind === "intent" && r.approval_id === approvalId),
  };
}

type VerdictMeta = { approval_status?: string; decided_by?: string | null; reason?: string | null };

const verdictMeta = (verdict: AuditRecord | undefined) => (verdict?.meta ?? {}) as VerdictMeta;

/**
 * The approval's status as its signed records say: pending with no verdict; else the last verdict's (approved, then
 * expired or cancelled unused), consumed once an intent used an approved one. The builder states the same
 * (src/core/governance/evidence.ts), so the bundle's status is bound to signed records, not to the approvals table.
 */
export function approvalStatusOf(verdicts: readonly AuditRecord[], used: boolean): string {
  const last = verdicts[verdicts.length - 1];
  if (!last) return "pending";
  const status = verdictMeta(last).approval_status ?? "unknown";
  return status === "approved" && used ? "consumed" : status;
}

function statusSource(trail: ApprovalTrail): string {
  const last = trail.verdicts[trail.verdicts.length - 1];
  if (!last) return "pending, and the proof holds no signed verdict";
  const used = trail.use
    ? `, used by the signed intent (seq ${trail.use.seq})`
    : ", and no intent in the proof used it";
  return `the last signed verdict (seq ${last.seq}: ${shown(verdictMeta(last).approval_status)})${used}`;
}

/** "approved by alice at … ("note"), then expired at …", "…, then used by interaction int-… at …". */
function describeTrail(trail: ApprovalTrail): string {
  const parts = trail.verdicts.map((verdict, i) => {
    const meta = verdictMeta(verdict);
    const by = meta.decided_by ? ` by ${shown(meta.decided_by)}` : i === 0 ? " by nobody (expired)" : "";
    const note = meta.reason ? ` (${quoted(meta.reason)})` : "";
    return `${shown(meta.approval_status)}${by} at ${shown(verdict.timestamp)}${note}`;
  });
  if (trail.use) parts.push(`used by interaction ${shown(trail.use.interaction_id)} at ${shown(trail.use.timestamp)}`);
  return parts.join(", then ");
}

/** Why, when and in which interaction the approval was asked for: the signed ESCALATE decision record naming it. */
function checkEscalation(approval: Json, approvalId: string, asked: AuditRecord | undefined): void {
  if (asked?.decision !== "ESCALATE")
    return fail(`approval: the proof holds no signed escalation (ESCALATE decision record) of approval ${approvalId}`);
  const where = `the signed escalation (seq ${asked.seq})`;
  if (!same(approval.reasons, asked.reasons ?? [])) fail(`approval: reasons differ from ${where}`);
  if (approval.requested_at !== asked.timestamp) fail(`approval: requested_at differs from ${where}`);
  if (approval.escalated_interaction_id !== asked.interaction_id)
    fail(`approval: escalated_interaction_id differs from ${where}`);
}

/** The signed ESCALATE that asked for the approval: the first decision record naming it. */
function escalationOf(chain: AuditRecord[], approvalId: string): AuditRecord | undefined {
  return chain.find((r) => r.kind === "decision" && r.approval_id === approvalId);
}

function checkOutcome(bundle: Json, own: AuditRecord[]): string[] {
  const record = own.find((r) => r.kind === "outcome");
  const outcome = bundle.outcome;
  if (!record) {
    if (outcome !== undefined) fail("outcome: the proof holds no signed outcome record");
    // An intent is written before the connector runs: without its outcome, whether it ran is unknown, not "no".
    const intent = own.find((r) => r.kind === "intent");
    if (intent)
      return [`outcome: UNKNOWN (the intent, seq ${intent.seq}, has no outcome record: the connector may have run)`];
    return ["outcome: nothing ran (no outcome recorded)"];
  }
  if (!isObject(outcome)) return fail(`outcome: missing, but the signed outcome record (seq ${record.seq}) exists`);
  if (outcome.executed !== (record.executed === true) || !same(outcome.result, record.result))
    fail(`outcome: differs from the signed outcome record (seq ${record.seq})`);
  if (outcome.recorded_at !== record.timestamp)
    fail(`outcome: recorded_at differs from the signed record (seq ${record.seq})`);
  return [`outcome: executed=${record.executed === true} at ${record.timestamp}, result as recorded`];
}
