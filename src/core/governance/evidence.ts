// Evidence bundle of one interaction: everything an auditor needs, in one document that verifies offline
// (src/core/audit/evidence-verify.ts, `gatehouse evidence verify`).
//
// The sections (action, decision, manifest version, token claims, approval, outcome) are what the operator reads;
// the proof is what makes them believable: the org's audit records from the first one involved to a freshly signed
// chain head. Every section is derived from, and checked against, those signed records:
//   action, decision  ← the interaction's intent / decision record
//   manifest          ← the version named in that record's trace (its content must hash to `manifest_hash`)
//   approval          ← the escalation's decision record, the verdicts' `approval` records (who, when, why: the
//                       first; the status: the last) and the intent that used it (consumed)
//   outcome           ← the outcome record
//   capability token  ← its signed `token_issued` / `token_revoked` records (proof.token_records, each signed by
//                       itself: they may precede the chain segment by days); a token issued before those were
//                       written: the token store's row (the trace signs only its id). Recipients are counted.
// Everything is read through ports (./history.ts), so either backend (SQLite, PostgreSQL) builds the same bundle.
// The proof is sent as it is read, a page of records at a time (chainPages): the bundle of an interaction early in a
// long chain carries every later record, and read whole it held them all in memory and, on SQLite, stopped every
// other request of the node for as long as the read took.

import type { Approval } from "../approvals";
import type { AuditRecord, ChainHead } from "../audit";
import { issuedFields, revocationFields, tokenTrailOf } from "../audit/evidence-token";
import { approvalStatusOf } from "../audit/evidence-verify";
import { type ChainPage, chainPages } from "../audit/export-pages";
import type { ManifestVersion, PolicyTraceEntry, Reason } from "../policy/types";
import type { ManifestsService } from "../ports";
import type { AuditHistory, TokenRecords } from "./history";
import type { ApprovalsPort } from "./ports";

export const EVIDENCE_FORMAT = "gatehouse.evidence.v1";

export interface EvidenceBundle {
  format: typeof EVIDENCE_FORMAT;
  org_id: string;
  interaction_id: string;
  generated_at: string;
  uapk_id?: string;
  agent_id?: string;
  action: Record<string, unknown>;
  decision: { decision: string; reasons: Reason[]; policy_trace?: unknown; decided_at: string };
  manifest?: ManifestVersion;
  capability_token?: {
    token_id: string;
    issuer_id: string;
    issued_by?: string;
    agent_id: string;
    manifest_id: string;
    capabilities: string[];
    max_actions?: number;
    allowed_recipients_count?: number;
    issued_at: string;
    expires_at: string;
    revoked: boolean;
    revoked_at?: string;
    revoked_by?: string;
  };
  approval?: {
    approval_id: string;
    status: string;
    escalated_interaction_id?: string;
    reasons: Reason[];
    requested_at?: string;
    decided_by?: string;
    decided_at?: string;
    reason?: string;
  };
  outcome?: { executed: boolean; result?: Record<string, unknown>; recorded_at: string };
  proof: { chain: AuditRecord[]; involved_seqs: number[]; chain_head: ChainHead; token_records?: AuditRecord[] };
}

export interface EvidenceDeps {
  audit: Pick<AuditHistory, "getInteraction" | "signedHead" | "chainPage">;
  manifests: Pick<ManifestsService, "version">;
  tokens: TokenRecords;
  approvals?: Pick<ApprovalsPort, "get">;
}

/** The bundle's JSON text (an EvidenceBundle), in chunks to send as they come; undefined: no such interaction. */
export type BuildEvidence = (orgId: string, interactionId: string) => Promise<AsyncGenerator<string> | undefined>;

/** What the proof holds besides its chain, which is read at sending time from `from_seq` to the head. */
interface ProofBounds {
  from_seq: number;
  involved_seqs: number[];
  chain_head: ChainHead;
  /** The capability token's own signed records (issued, revoked), each proven by its own signature. */
  token_records: AuditRecord[];
}

/** The trace entry of one check in a record, if it ran. */
export function traceEntry(record: AuditRecord, check: string): PolicyTraceEntry | undefined {
  return ((record.policy_trace as { checks?: PolicyTraceEntry[] } | null)?.checks ?? []).find((c) => c.check === check);
}

export function createEvidenceBuilder(deps: EvidenceDeps): BuildEvidence {
  return async (orgId, interactionId) => {
    const read = await deps.audit.getInteraction(orgId, interactionId);
    const named = read.find((r) => r.kind === "intent" || r.kind === "decision");
    if (!named) return undefined;
    // The approval is read before the head: a read expires an overdue approval, and that verdict's record must be
    // in the proof the head closes (and in the section's status), not appended after it.
    const stored = named.approval_id ? ((await deps.approvals?.get(orgId, named.approval_id)) ?? undefined) : undefined;
    // Head first, then the records up to it: records appended meanwhile are after the head, not in the proof.
    const head = await deps.audit.signedHead(orgId);
    const upToHead = (records: AuditRecord[]) => records.filter((r) => r.seq <= head.seq);
    const own = upToHead(named.approval_id ? await deps.audit.getInteraction(orgId, interactionId) : read);
    const opening = own.find((r) => r.kind === "intent" || r.kind === "decision") ?? named;
    const outcome = own.find((r) => r.kind === "outcome");
    const approval = await approvalSection(orgId, opening, own, stored, upToHead);
    const involved = [...own, ...approval.records];
    const manifest = await manifestOf(deps.manifests, orgId, opening);
    const token = await tokenOf(orgId, opening, upToHead);
    const sections: Omit<EvidenceBundle, "proof"> = {
      format: EVIDENCE_FORMAT,
      org_id: orgId,
      interaction_id: interactionId,
      // The moment the signed head vouches for, so the verifier proves it (./audit/evidence-verify.ts).
      generated_at: head.signed_at,
      ...(opening.uapk_id ? { uapk_id: opening.uapk_id } : {}),
      ...(opening.agent_id ? { agent_id: opening.agent_id } : {}),
      action: (opening.action ?? {}) as Record<string, unknown>,
      decision: {
        decision: opening.decision ?? "DENY",
        reasons: (opening.reasons ?? []) as Reason[],
        ...(opening.policy_trace ? { policy_trace: opening.policy_trace } : {}),
        decided_at: opening.timestamp,
      },
      ...(manifest ? { manifest } : {}),
      ...(token.section ? { capability_token: token.section } : {}),
      ...(approval.section ? { approval: approval.section } : {}),
      ...(outcome
        ? {
            outcome: {
              executed: outcome.executed === true,
              ...(outcome.result ? { result: outcome.result as Record<string, unknown> } : {}),
              recorded_at: outcome.timestamp,
            },
          }
        : {}),
    };
    const page = (fromSeq: number, limit: number) => deps.audit.chainPage(orgId, fromSeq, limit);
    return bundleJson(
      sections,
      {
        from_seq: Math.min(...involved.map((r) => r.seq)),
        involved_seqs: [...new Set(involved.map((r) => r.seq))].sort((a, b) => a - b),
        chain_head: head,
        token_records: token.records,
      },
      page,
    );
  };

  /**
   * The token the decision used: its claims, issuer and revocation as its signed records (up to the head) say, else
   * (issued before they were written) as the token store does; and those records, for the proof.
   */
  async function tokenOf(
    orgId: string,
    opening: AuditRecord,
    upToHead: (records: AuditRecord[]) => AuditRecord[],
  ): Promise<{ section?: EvidenceBundle["capability_token"]; records: AuditRecord[] }> {
    const tokenId = traceEntry(opening, "capability_token")?.details?.token_id;
    if (typeof tokenId !== "string") return { records: [] };
    const info = await deps.tokens.get(orgId, tokenId);
    if (!info) return { records: [] };
    const trail = tokenTrailOf(upToHead(await deps.audit.getInteraction(orgId, tokenId)), tokenId);
    // Redacted: who the token lets the agent write to is personal data; its number is enough to see the scope.
    const stored: Record<string, unknown> = {
      token_id: info.token_id,
      // issuer_id is a label chosen at issue; issued_by is the operator who did (the one accountable).
      issuer_id: info.issuer_id,
      issued_by: info.issued_by,
      agent_id: info.agent_id,
      manifest_id: info.manifest_id,
      capabilities: info.capabilities,
      max_actions: info.constraints?.max_actions,
      allowed_recipients_count: info.constraints?.allowed_recipients?.length,
      issued_at: info.issued_at,
      expires_at: info.expires_at,
      revoked: info.revoked,
      revoked_at: info.revoked_at,
      revoked_by: info.revoked_by,
    };
    // What the signed records say wins over the row; a revocation after the head is not in this bundle's proof.
    const signed = {
      ...(trail.issued ? { ...issuedFields(trail.issued), ...revocationFields(trail.revoked) } : {}),
      ...(!trail.issued && trail.revoked ? revocationFields(trail.revoked) : {}),
    };
    const section = Object.fromEntries(
      Object.entries({ ...stored, ...signed }).filter(([, value]) => value !== undefined && value !== null),
    ) as NonNullable<EvidenceBundle["capability_token"]>;
    const records = [trail.issued, trail.revoked].filter((r): r is AuditRecord => r !== undefined);
    return { section, records };
  }

  /**
   * The approval this interaction asked for (ESCALATE) or used (an intent with approval_id): from the escalation's
   * decision record, every verdict record (approved, then perhaps expired or cancelled unused) and the intent that
   * used it, which are all added to the proof. Its status is what those records say (approvalStatusOf), as the
   * verifier derives it: the approvals table may already be a step further than the records up to the head.
   */
  async function approvalSection(
    orgId: string,
    opening: AuditRecord,
    own: AuditRecord[],
    stored: Approval | undefined,
    upToHead: (records: AuditRecord[]) => AuditRecord[],
  ): Promise<{ section?: EvidenceBundle["approval"]; records: AuditRecord[] }> {
    const approvalId = opening.approval_id;
    if (!approvalId) return { records: [] };
    const recordsOf = async (id: string | null | undefined) =>
      !id ? [] : id === opening.interaction_id ? own : upToHead(await deps.audit.getInteraction(orgId, id));
    const escalatedId = stored?.interaction_id ?? (opening.kind === "decision" ? opening.interaction_id : undefined);
    const escalation = escalatedId ? await recordsOf(escalatedId) : own;
    const asked = escalation.find((r) => r.kind === "decision" && r.approval_id === approvalId);
    const verdicts = escalation.filter((r) => r.kind === "approval" && r.approval_id === approvalId);
    const usedIn = opening.kind === "intent" ? own : await recordsOf(stored?.consumed_by_interaction_id);
    const use = usedIn.find((r) => r.kind === "intent" && r.approval_id === approvalId);
    // Who, when and why are the first verdict's: the operator's decision (or the expiry of a pending approval).
    const verdict = verdicts[0];
    const meta = (verdict?.meta ?? {}) as { decided_by?: string | null; reason?: string | null };
    const section: NonNullable<EvidenceBundle["approval"]> = {
      approval_id: approvalId,
      status: approvalStatusOf(verdicts, use !== undefined),
      ...(escalatedId ? { escalated_interaction_id: escalatedId } : {}),
      reasons: ((asked?.reasons ?? stored?.reasons ?? []) as Reason[]) ?? [],
      ...(asked ? { requested_at: asked.timestamp } : {}),
      ...(meta.decided_by ? { decided_by: meta.decided_by } : {}),
      ...(verdict ? { decided_at: verdict.timestamp } : {}),
      ...(meta.reason ? { reason: meta.reason } : {}),
    };
    const records = [asked, ...verdicts, use].filter((r): r is AuditRecord => r !== undefined);
    return { section, records: records.filter((r) => !own.includes(r)) };
  }
}

/** The manifest version the decision applied, as its trace names it. */
async function manifestOf(
  manifests: EvidenceDeps["manifests"],
  orgId: string,
  opening: AuditRecord,
): Promise<ManifestVersion | undefined> {
  const details = traceEntry(opening, "manifest_validation")?.details;
  const id = details?.manifest_id;
  const version = details?.manifest_version;
  if (typeof id !== "string" || typeof version !== "number") return undefined;
  return manifests.version(orgId, id, version);
}

/** The bundle as JSON text: the sections, then the proof's chain page by page, then the rest of the proof. */
async function* bundleJson(
  sections: Omit<EvidenceBundle, "proof">,
  proof: ProofBounds,
  page: ChainPage,
): AsyncGenerator<string> {
  // `sections` is an object with members (format…): its text ends with the `}` the proof goes before.
  yield `${JSON.stringify(sections).slice(0, -1)},"proof":{"chain":[`;
  let separator = "";
  for await (const records of chainPages(proof.from_seq, proof.chain_head, page)) {
    yield separator + records.map((record) => JSON.stringify(record)).join(",");
    separator = ",";
  }
  const { involved_seqs, chain_head, token_records } = proof;
  const tokens = token_records.length ? `,"token_records":${JSON.stringify(token_records)}` : "";
  yield `],"involved_seqs":${JSON.stringify(involved_seqs)},"chain_head":${JSON.stringify(chain_head)}${tokens}}}`;
}
