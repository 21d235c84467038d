// Which of an interaction's records says what became of it: the record GET …/interactions/{id} shows. Its latest
// record is not always that: an escalated interaction gains records about its approval after its decision (an
// operator's verdict, a refused attempt), and none of them is the interaction's own verdict.
import type { AuditRecord, AuditRecordKind } from "./record";

/**
 * The kinds that carry an interaction's verdict, the first one present wins:
 * - `outcome`: the connector ran (or failed), so this is what happened;
 * - `intent`: an ALLOW being carried out, or whose outcome was never written (the process stopped mid-call);
 * - `decision`: nothing ran (a DENY, an ESCALATE, or an ALLOW whose connector is not available).
 * `approval` and `refusal` records are about the approval an ESCALATE asked for (its status is the approval's own,
 * read under …/approvals/{approval_id}), so they are never the interaction's verdict.
 */
const VERDICT_KINDS: readonly AuditRecordKind[] = ["outcome", "intent", "decision"];

/**
 * The record that stands for the interaction `records` (its records in chain order), or undefined when it has none.
 * Else its latest record: a capability token's interaction (`token_issued`, then `token_revoked`) decides nothing
 * about an action, and its latest record is the token's state.
 */
export function interactionVerdict(records: readonly AuditRecord[]): AuditRecord | undefined {
  for (const kind of VERDICT_KINDS) {
    const found = records.find((r) => r.kind === kind);
    if (found) return found;
  }
  return records.at(-1);
}
