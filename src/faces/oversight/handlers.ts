// Oversight: the operator's REST face over approvals and the audit log, plus the agent's read of its own
// approval (with long-poll). Operators act within the org their JWT names (org-scope.ts); the agent reads
// within its API key's org, so another org's approval is simply not found.
import type { DecideResult } from "../../core/approvals";
import { InvalidAuditQueryError, type AuditRecord } from "../../core/audit";
import type { ApprovalsService, AuditService } from "../../core/ports";
import { logger } from "../../core/log/logger";
import type { HandlerGroup } from "../../http/handlers";
import { HttpProblem, type ProblemCode } from "../../http/problem";
import { toApproval, toChainVerification, toInteractionRecord } from "../../http/wire-models";
import { agentOrgOf, requireOperatorOf } from "../../http/boundary/org-scope";

const log = logger.child({ module: "oversight" });

export interface OversightDeps {
  approvals: ApprovalsService;
  audit: AuditService;
}

const DECIDE_FAILURES: Record<Exclude<DecideResult, { ok: true }>["code"], { status: number; code: ProblemCode }> = {
  NOT_FOUND: { status: 404, code: "APPROVAL_NOT_FOUND" },
  NOT_PENDING: { status: 409, code: "APPROVAL_NOT_PENDING" },
  EXPIRED: { status: 409, code: "APPROVAL_EXPIRED" },
};

function approvalNotFound(approvalId: string): HttpProblem {
  return new HttpProblem(404, `Approval ${approvalId} not found`, { code: "APPROVAL_NOT_FOUND" });
}

export function oversightHandlers({ approvals, audit }: OversightDeps) {
  function decided(result: DecideResult, orgId: string, approvalId: string) {
    if (!result.ok) {
      const failure = DECIDE_FAILURES[result.code];
      throw new HttpProblem(failure.status, result.reason, { code: failure.code });
    }
    const { status, decided_by } = result.approval;
    log.info({ org_id: orgId, approval_id: approvalId, status, decided_by }, "approval decided");
    return { status: 200 as const, body: toApproval(result.approval) };
  }

  /** Outcome records are shown with their intent's action and reasons; one lookup per interaction. */
  async function withIntents(orgId: string, records: AuditRecord[]) {
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

  return {
    Approvals_list: async ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const items = (await approvals.list(params.org_id, query.status ? { status: query.status } : {})).map(toApproval);
      return { status: 200, body: { items } };
    },

    Approvals_get: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const approval = await approvals.get(params.org_id, params.approval_id);
      if (!approval) throw approvalNotFound(params.approval_id);
      return { status: 200, body: toApproval(approval) };
    },

    Approvals_approve: async ({ params, body, principal }) => {
      const by = requireOperatorOf(principal, params.org_id);
      const result = await approvals.approve(params.org_id, params.approval_id, { by, reason: body?.reason });
      return decided(result, params.org_id, params.approval_id);
    },

    Approvals_deny: async ({ params, body, principal }) => {
      const by = requireOperatorOf(principal, params.org_id);
      const result = await approvals.deny(params.org_id, params.approval_id, { by, reason: body?.reason });
      return decided(result, params.org_id, params.approval_id);
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
      return { status: 200, body: toApproval(approval) };
    },

    Interactions_list: async ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      let page;
      try {
        page = await audit.list(params.org_id, {
          agent_id: query.agent_id,
          decision: query.decision,
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
      return {
        status: 200,
        body: {
          items: await withIntents(params.org_id, page.records),
          ...(page.next_cursor !== null ? { next_cursor: page.next_cursor } : {}),
        },
      };
    },

    Interactions_get: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const records = await audit.getInteraction(params.org_id, params.interaction_id);
      const latest = records.at(-1);
      if (!latest) {
        throw new HttpProblem(404, `Interaction ${params.interaction_id} not found`, { code: "INTERACTION_NOT_FOUND" });
      }
      // The spec's view of an interaction: its latest record (the outcome once executed), completed by the
      // record that opened it (the intent) for what an outcome does not repeat.
      return { status: 200, body: toInteractionRecord(latest, records[0]) };
    },

    Interactions_verify: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      return { status: 200, body: toChainVerification(await audit.verifyChain(params.org_id)) };
    },

    Interactions_export: async ({ params, principal }) => {
      requireOperatorOf(principal, params.org_id);
      // The stored records unchanged (every hashed field), so `gatehouse audit verify` can check them offline.
      return {
        status: 200,
        body: await audit.exportJsonl(params.org_id),
        headers: { "content-type": "application/x-ndjson" },
      };
    },
  } satisfies HandlerGroup;
}
