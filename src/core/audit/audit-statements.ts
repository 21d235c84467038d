// The embedded audit log's statements, built with Kysely once (src/core/store/sqlite-query.ts) and run
// synchronously on better-sqlite3 by ./audit-log.ts and ./group-signature.ts.
import type { Db } from "../store/sqlite";
import { paramsOf, sqliteQuery } from "../store/sqlite-query";
import type { Row } from "./audit-rows";
import { HASHED_FIELDS } from "./record";

/** Every column of `audit_records`: the hashed fields, the hash and the signature. */
export const AUDIT_COLUMNS = [...HASHED_FIELDS, "hash", "signature"] as const satisfies readonly (keyof Row)[];

type Org = { org_id: string };
type Interaction = Org & { interaction_id: string };

/**
 * INDEXED BY: without table statistics SQLite prefers walking the org's whole chain by primary key (it satisfies
 * ORDER BY seq), which made every outcome append O(chain length). The interaction index is already ordered by seq
 * ((org_id, interaction_id, seq): migration 0006), so no sort is needed either.
 */
const BY_INTERACTION = { indexedBy: { table: "audit_records", index: "audit_records_interaction" } } as const;

export function auditStatements(db: Db) {
  return {
    head: sqliteQuery(db, (b, $: Org) =>
      b
        .selectFrom("audit_records")
        .select(["seq", "hash", "timestamp"])
        .where("org_id", "=", $.org_id)
        .orderBy("seq", "desc")
        .limit(1),
    ),
    interaction: sqliteQuery(
      db,
      (b, $: Interaction) =>
        b
          .selectFrom("audit_records")
          .selectAll()
          .where("org_id", "=", $.org_id)
          .where("interaction_id", "=", $.interaction_id)
          .orderBy("seq"),
      BY_INTERACTION,
    ),
    /** What an outcome needs of its interaction's records: the columns it copies, none of the JSON to parse. */
    interactionKinds: sqliteQuery(
      db,
      (b, $: Interaction) =>
        b
          .selectFrom("audit_records")
          .select(["kind", "uapk_id", "agent_id", "decision", "approval_id"])
          .where("org_id", "=", $.org_id)
          .where("interaction_id", "=", $.interaction_id)
          .orderBy("seq"),
      BY_INTERACTION,
    ),
    chainPage: sqliteQuery(db, (b, $: Org & { from_seq: number; limit: number }) =>
      b
        .selectFrom("audit_records")
        .selectAll()
        .where("org_id", "=", $.org_id)
        .where("seq", ">=", $.from_seq)
        .orderBy("seq")
        .limit($.limit),
    ),
    insert: sqliteQuery(db, (b, $: Row) => b.insertInto("audit_records").values(paramsOf($, AUDIT_COLUMNS))),
    /** A group's last record of a chain, signed before the group's COMMIT (./group-signature.ts). */
    sign: sqliteQuery(db, (b, $: Org & { seq: number; signature: string }) =>
      b
        .updateTable("audit_records")
        .set({ signature: $.signature })
        .where("org_id", "=", $.org_id)
        .where("seq", "=", $.seq),
    ),
  };
}

export type AuditStatements = ReturnType<typeof auditStatements>;
