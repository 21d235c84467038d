// The counts shadow replay seeds its budgets and counterparties with (src/core/governance/history.ts), written
// once for both backends: the embedded store compiles them once (src/core/governance/sqlite-history.ts), the
// shared store runs them with each call's values (./shared/audit-history.ts).
import type { Kysely } from "kysely";
import type { Database } from "./schema";

type Before = { org_id: string; before_seq: number };

const intentsBefore = (b: Kysely<Database>, $: Before) =>
  b
    .selectFrom("audit_records")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("org_id", "=", $.org_id)
    .where("kind", "=", "intent")
    .where("seq", "<", $.before_seq);

/** Intents before `before_seq` whose policy trace names the token (`pattern`: tokenTracePattern). */
export function intentsByToken(b: Kysely<Database>, $: Before & { pattern: string }) {
  return intentsBefore(b, $).where("policy_trace", "like", $.pattern);
}

/** Intents before `before_seq` of one agent of one manifest since an instant. */
export function intentsByAgent(b: Kysely<Database>, $: Before & { uapk_id: string; agent_id: string; since: string }) {
  return intentsBefore(b, $)
    .where("uapk_id", "=", $.uapk_id)
    .where("agent_id", "=", $.agent_id)
    .where("timestamp", ">=", $.since);
}

export function counterpartiesFirstSeen(b: Kysely<Database>, $: { org_id: string; uapk_id: string }) {
  return b
    .selectFrom("known_counterparties")
    .select(["counterparty", "first_seen"])
    .where("org_id", "=", $.org_id)
    .where("uapk_id", "=", $.uapk_id);
}
