// Grouped decisions and outcomes of the shared audit chain: the ones asked for in one turn become ONE unit of the
// node's group commit (./group-commit.ts) — one read of the interactions the outcomes close (per org) and one
// multi-row INSERT for all of them.
import { type DecisionInput, type OutcomeInput, toRow } from "../../audit/audit-log";
import type { AuditRecord } from "../../audit/record";
import { type Content, decisionContent, type InteractionRow, outcomeContent } from "./audit-content";
import type { SharedGroupCommit, Trx } from "./group-commit";

export interface GroupedAppends {
  decision(input: DecisionInput): Promise<AuditRecord>;
  outcome(input: OutcomeInput): Promise<AuditRecord>;
}

/** `nextRecord` signs the org's next record inside the group's transaction (the caller inserts it). */
export function createGroupedAppends(
  groups: SharedGroupCommit,
  nextRecord: (trx: Trx, orgId: string, content: Content) => Promise<AuditRecord>,
): GroupedAppends {
  type Pending = ({ kind: "decision"; input: DecisionInput } | { kind: "outcome"; input: OutcomeInput }) & {
    resolve: (record: AuditRecord) => void;
    reject: (err: unknown) => void;
  };
  let pendingAppends: Pending[] = [];

  function enqueue(item: Pending): void {
    if (pendingAppends.push(item) === 1) setImmediate(flushAppends);
  }

  function flushAppends(): void {
    const items = pendingAppends;
    pendingAppends = [];
    const orgs = [...new Set(items.map((item) => item.input.org_id))];
    groups
      .run(orgs, (trx) => appendBatch(trx, orgs, items))
      .then(
        (results) =>
          items.forEach((item, i) => {
            const result = results[i]!; // one result per item, in order
            if (result.ok) item.resolve(result.record);
            else item.reject(result.error);
          }),
        (err) => {
          for (const item of items) item.reject(err);
        },
      );
  }

  async function appendBatch(trx: Trx, orgs: string[], items: Pending[]) {
    const known = new Map<string, InteractionRow[]>();
    const keyOf = (org: string, interaction: string) => `${org}\u0000${interaction}`;
    for (const org of orgs) {
      const ids = items.flatMap((i) =>
        i.kind === "outcome" && i.input.org_id === org ? [i.input.interaction_id] : [],
      );
      if (ids.length === 0) continue;
      const rows = await trx
        .selectFrom("audit_records")
        .select(["interaction_id", "kind", "uapk_id", "agent_id", "decision", "approval_id"])
        .where("org_id", "=", org)
        .where("interaction_id", "in", [...new Set(ids)])
        .execute();
      for (const row of rows) {
        const key = keyOf(org, row.interaction_id as string);
        known.set(key, [...(known.get(key) ?? []), row as InteractionRow]);
      }
    }
    const results: ({ ok: true; record: AuditRecord } | { ok: false; error: unknown })[] = [];
    const rows: ReturnType<typeof toRow>[] = [];
    for (const item of items) {
      try {
        let content: Content;
        if (item.kind === "decision") content = decisionContent(item.input);
        else {
          const key = keyOf(item.input.org_id, item.input.interaction_id);
          content = outcomeContent(item.input, known.get(key) ?? []);
          known.set(key, [...(known.get(key) ?? []), { kind: "outcome" } as InteractionRow]);
        }
        const record = await nextRecord(trx, item.input.org_id, content);
        rows.push(toRow(record));
        results.push({ ok: true, record });
      } catch (error) {
        results.push({ ok: false, error });
      }
    }
    for (let i = 0; i < rows.length; i += 200)
      await trx
        .insertInto("audit_records")
        .values(rows.slice(i, i + 200))
        .execute();
    return results;
  }

  return {
    decision: (input) => new Promise((resolve, reject) => enqueue({ kind: "decision", input, resolve, reject })),
    outcome: (input) => new Promise((resolve, reject) => enqueue({ kind: "outcome", input, resolve, reject })),
  };
}
