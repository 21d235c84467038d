// Oversight: the operator's REST face over approvals and the audit log, plus the agent's read of its own
// approval (with long-poll). Operators act within the org their JWT names (org-scope.ts); the agent reads
// within its API key's org, so another org's approval is simply not found.
import { Readable } from "node:stream";
import type { components } from "../../../generated/api-types";
import { type ApprovalPosition, type DecideResult, isSelfApproval } from "../../core/approvals";
import { type AuditRecord, cursorAfterRecord, InvalidAuditQueryError, interactionVerdict } from "../../core/audit";
import { printableJson } from "../../core/audit/printable";
import { type RecordRefusal, recordRefusedDecision } from "../../core/governance/approval-audit-listener";
import type { BuildEvidence } from "../../core/governance/evidence";
import { ReplayCandidateError, ReplayManifestNotFoundError, type ShadowReplay } from "../../core/governance/replay";
import { logger } from "../../core/log/logger";
import type { ApprovalsService, AuditService } from "../../core/ports";
import { agentOrgOf, requireOperatorOf } from "../../http/boundary/org-scope";
import type { HandlerGroup } from "../../http/handlers";
import { countWithinBytes, decodeTimeCursor, encodeCursor, storePageOf } from "../../http/paging";
import { HttpProblem, type ProblemCode } from "../../http/problem";
import {
  type ApprovalRenderer,
  toAgentApproval,
  toChainVerification,
  toInteractionRecord,
} from "../../http/wire-models";

const log = logger.child({ module: "oversight" });

export interface OversightDeps {
  approvals: ApprovalsService;
  audit: AuditService;
  /** Shadow replay of a candidate manifest (src/core/governance/replay.ts), on either backend. */
  replay: ShadowReplay;
  /** Evidence bundles (src/core/governance/evidence.ts), on either backend. */
  evidence: BuildEvidence;
  /** Approvals as the API shows them: their tool's redaction applied (wire-models.ts). */
  renderApproval: ApprovalRenderer;
  /** Audits an attempt refused for a policy reason (self-approval): approvalRefusalRecorder. */
  recordRefusal: RecordRefusal;
}

const DECIDE_FAILURES: Record<Exclude<DecideResult, { ok: true }>["code"], { status: number; code: ProblemCode }> = {
  NOT_FOUND: { status: 404, code: "APPROVAL_NOT_FOUND" },
  NOT_PENDING: { status: 409, code: "APPROVAL_NOT_PENDING" },
  EXPIRED: { status: 409, code: "APPROVAL_EXPIRED" },
};

const DEFAULT_APPROVALS_PAGE = 100;

/**
 * An approvals cursor back to its position, checked like every time cursor (exact keys, an ISO instant, a plain
 * id): the loose check it replaces took `{"created_at":"yesterday",…}` or an extra `org_id` and answered a page.
 */
function approvalPositionOf(cursor: string): ApprovalPosition {
  const { created_at, id } = decodeTimeCursor(cursor, "approval_id");
  return { created_at, approval_id: id };
}

function approvalNotFound(approvalId: string): HttpProblem {
  return new HttpProblem(404, `Approval ${approvalId} not found`, { code: "APPROVAL_NOT_FOUND" });
}

export function oversightHandlers(deps: OversightDeps) {
  const { approvals, audit, replay, evidence, renderApproval, recordRefusal } = deps;
  return {
    ...approvalHandlers(approvals, renderApproval, recordRefusal),
    ...interactionHandlers(audit, evidence),
    ...replayHandlers(replay),
  };
}

/**
 * Separation of duties: the person who asked for the action (their MCP or agent session) does not approve it here.
 * The requester of an approval never changes, so this read before the approve decides it for good, even racing
 * another operator's approval. (The IDE user's own decision inside their agent session is that face's, by design.)
 * The refused attempt is audited (a `refusal` record, signed in the org's chain) before the 403: an auditor sees who
 * tried to approve their own request, not only who approved it in the end. A failed append fails the call.
 */
async function refuseSelfApproval(
  approvals: ApprovalsService,
  recordRefusal: RecordRefusal,
  ids: { orgId: string; approvalId: string },
  approver: string,
) {
  const { orgId, approvalId } = ids;
  const approval = await approvals.get(orgId, approvalId);
  if (!approval || !isSelfApproval(approval, approver)) return;
  await recordRefusal(approval, { refused: "SELF_APPROVAL", attempted: "approve", attempted_by: approver });
  throw new HttpProblem(403, `Approval ${approvalId} was asked for by ${approver}: another operator must approve it`, {
    code: "SELF_APPROVAL",
  });
}

/** The answer to approve / deny: the decided approval, or the problem saying why not (a 409 audited first). */
async function decided(
  result: DecideResult,
  ids: { orgId: string; approvalId: string },
  deps: { approvals: ApprovalsService; recordRefusal: RecordRefusal; render: ApprovalRenderer },
  attempt: { attempted: "approve" | "deny"; attempted_by: string },
) {
  const { orgId, approvalId } = ids;
  const { render } = deps;
  if (!result.ok) {
    const failure = DECIDE_FAILURES[result.code];
    // A 409 is audited first (once per approval, operator and code); a 404 writes nothing.
    await recordRefusedDecision(deps.approvals, deps.recordRefusal, { ...ids, result }, attempt);
    throw new HttpProblem(failure.status, result.reason, { code: failure.code });
  }
  const { status, decided_by } = result.approval;
  log.info({ org_id: orgId, approval_id: approvalId, status, decided_by }, "approval decided");
  return { status: 200 as const, body: await render(result.approval) };
}

/** Outcome records are shown with their intent's action and reasons; one lookup per interaction. */
async function withIntents(audit: AuditService, orgId: string, records: AuditRecord[]) {
  const intents = new Map<string, AuditRecord | undefined>();
  const items = [];
  for (const record of records) {
    if (record.kind !== "outcome") {
      items.push(toInteractionRecord(record));
      continue;
    }
    if (!intents.has(record.interaction_id)) {
      const opening = (await audit.getInteraction(orgId, record.interaction_id)).find((r) => r.kind === "intent");
      intents.set(record.interaction_id, opening);
    }
    items.push(toInteractionRecord(record, intents.get(record.interaction_id)));
  }
  return items;
}

/** Approvals_* for operators, and Gateway_getApproval for the agent that asked (with long-poll). */
const identity = <T>(value: T) => value;

function approvalHandlers(approvals: ApprovalsService, render: ApprovalRenderer, recordRefusal: RecordRefusal) {
  return {
    Approvals_list: async ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const limit = query.limit ?? DEFAULT_APPROVALS_PAGE;
      // One approval more than the page tells whether another page follows.
      const rows = await approvals.list(params.org_id, {
        limit: limit + 1,
        ...(query.status ? { status: query.status } : {}),
        ...(query.agent_id !== undefined ? { agent_id: query.agent_id } : {}),
        ...(query.cursor !== undefined ? { after: approvalPositionOf(query.cursor) } : {}),
      });
      const page = storePageOf(await render.many(rows), limit, identity, (last) =>
        encodeCursor({ created_at: last.created_at, approval_id: last.approval_id }),
      );
      return { status: 200, body: page };
    },

    Approvals_get: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const approval = await approvals.get(params.org_id, params.approval_id);
      if (!approval) throw approvalNotFound(params.approval_id);
      return { status: 200, body: await render(approval) };
    },

    Approvals_approve: async ({ params, body, principal }) => {
      const by = requireOperatorOf(principal, params.org_id);
      await refuseSelfApproval(approvals, recordRefusal, { orgId: params.org_id, approvalId: params.approval_id }, by);
      const result = await approvals.approve(params.org_id, params.approval_id, { by, reason: body?.reason });
      const ids = { orgId: params.org_id, approvalId: params.approval_id };
      return decided(result, ids, { approvals, recordRefusal, render }, { attempted: "approve", attempted_by: by });
    },

    Approvals_deny: async ({ params, body, principal }) => {
      const by = requireOperatorOf(principal, params.org_id);
      const result = await approvals.deny(params.org_id, params.approval_id, { by, reason: body?.reason });
      const ids = { orgId: params.org_id, approvalId: params.approval_id };
      return decided(result, ids, { approvals, recordRefusal, render }, { attempted: "deny", attempted_by: by });
    },

    Gateway_getApproval: async ({ params, query, principal, signal }) => {
      const orgId = agentOrgOf(principal);
      const waitSeconds = query.wait ?? 0;
      // Long-poll: answers as soon as an operator decides (or the approval expires), else after `wait`
      // seconds with the pending state; a client that hangs up ends the wait.
      const approval =
        waitSeconds > 0
          ? await approvals.waitForDecision(orgId, params.approval_id, waitSeconds * 1000, signal)
          : await approvals.get(orgId, params.approval_id);
      if (!approval) throw approvalNotFound(params.approval_id);
      // The agent's view: not who decided nor the operator's note (the MCP tool shows the same: agentViewOf).
      return { status: 200, body: toAgentApproval(await render(approval)) };
    },
  } satisfies HandlerGroup;
}

/** Interactions_*: the audit log as operators read, verify and export it, and evidence bundles. */
function interactionHandlers(audit: AuditService, evidence: BuildEvidence) {
  return {
    Interactions_list: async ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      let page;
      try {
        page = await audit.list(params.org_id, {
          agent_id: query.agent_id,
          decision: query.decision,
          ...(query.reason_code !== undefined ? { reason_code: query.reason_code } : {}),
          since: query.since,
          until: query.until,
          cursor: query.cursor,
          limit: query.limit,
        });
      } catch (err) {
        if (err instanceof InvalidAuditQueryError) {
          throw new HttpProblem(400, `Request is invalid: ${err.message}`, { code: "VALIDATION_FAILED" });
        }
        throw err;
      }
      const candidates = await withIntents(audit, params.org_id, page.records);
      const items = candidates.slice(0, countWithinBytes(candidates));
      // Cut short by the byte budget: the next page starts after the last record sent.
      const last = items.at(-1);
      const cut = items.length < candidates.length && last !== undefined;
      const next = cut ? cursorAfterRecord(last.seq) : page.next_cursor;
      return { status: 200, body: { items, ...(next !== null ? { next_cursor: next } : {}) } };
    },

    Interactions_get: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const records = await audit.getInteraction(params.org_id, params.interaction_id);
      const verdict = interactionVerdict(records);
      if (!verdict) {
        throw new HttpProblem(404, `Interaction ${params.interaction_id} not found`, { code: "INTERACTION_NOT_FOUND" });
      }
      // The spec's view of an interaction: the record of its verdict (the outcome once executed, else its intent or
      // decision; never a later approval or refused attempt), completed by its intent for what an outcome does not
      // repeat.
      const intent = records.find((r) => r.kind === "intent");
      return { status: 200, body: toInteractionRecord(verdict, intent) };
    },

    Interactions_verify: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      return { status: 200, body: toChainVerification(await audit.verifyChain(params.org_id)) };
    },

    Interactions_head: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      return { status: 200, body: await audit.signedHead(params.org_id) };
    },

    Interactions_evidence: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const json = await evidence(params.org_id, params.interaction_id);
      if (!json)
        throw new HttpProblem(404, `Interaction ${params.interaction_id} not found`, { code: "INTERACTION_NOT_FOUND" });
      // An EvidenceBundle, streamed: its proof is read a page at a time as it is sent (evidence.ts), escaped as
      // `gatehouse evidence get` prints it.
      return {
        status: 200,
        body: (await started(printableChunks(json))) as unknown as components["schemas"]["EvidenceBundle"],
        headers: { "content-type": "application/json; charset=utf-8" },
      };
    },

    Interactions_export: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      // Every hashed field of the stored records, so `gatehouse audit verify` can check them offline, each line
      // escaped as the CLI prints it (export-pages.ts: printableJson); streamed a page of records at a time.
      return {
        status: 200,
        body: (await started(audit.exportJsonlStream(params.org_id))) as unknown as string,
        headers: { "content-type": "application/x-ndjson" },
      };
    },
  } satisfies HandlerGroup;
}

/**
 * JSON `chunks` with the control, format and separator characters JSON.stringify leaves raw (an agent's U+009B, a
 * terminal's CSI; a bidi override; U+2028) written as `\uXXXX` (printableJson), as the CLI prints them and the audit
 * export writes them: the text parses to the same values, so the bundle still verifies. Each chunk is whole JSON text
 * (never half a string or a surrogate pair), so escaping it chunk by chunk is escaping the document.
 */
async function* printableChunks(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const chunk of chunks) yield printableJson(chunk);
}

/**
 * A stream of `chunks` whose first chunk has already been read: a store that fails at once (down, or the org's
 * head cannot be signed) is answered with its problem (503), not with a 200 cut short.
 */
async function started(chunks: AsyncIterable<string>): Promise<Readable> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  return Readable.from(
    (async function* () {
      if (first.done) return;
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    })(),
  );
}

/** Manifests_replay: a candidate manifest replayed against recorded traffic (either backend). */
function replayHandlers(replay: ShadowReplay) {
  return {
    Manifests_replay: async ({ params, body, principal }) => {
      requireOperatorOf(principal, params.org_id);
      try {
        const report = await replay(params.org_id, params.manifest_id, body as Parameters<ShadowReplay>[2]);
        return { status: 200, body: report };
      } catch (err) {
        if (err instanceof ReplayManifestNotFoundError)
          throw new HttpProblem(404, err.message, { code: "MANIFEST_NOT_FOUND" });
        if (err instanceof ReplayCandidateError)
          throw new HttpProblem(400, err.message, { code: "INVALID_MANIFEST", errors: err.problems });
        if (err instanceof InvalidAuditQueryError)
          throw new HttpProblem(400, `Request is invalid: ${err.message}`, { code: "VALIDATION_FAILED" });
        throw err;
      }
    },
  } satisfies HandlerGroup;
}
