// An idempotency key's claim gets an owner and a lease, so a key whose node died mid-call can be answered:
//   owner           the process that holds the claim (a random id per idempotency store, i.e. per node process)
//   lease_until     ISO instant; the owner renews it while its call runs. Past it, the owner is taken for dead.
//   interaction_id  written by the owner (compare-and-set on `owner`) just before the call's audit intent is
//                   reserved: while it is null nothing can have run, so a retry may take the expired claim over;
//                   once set, the call may have run and the key is never executed again.
// Rows claimed before this migration have no owner: they keep the old behaviour (in flight until they expire).
// The index serves the heartbeat (`UPDATE … WHERE owner = ? AND state = 'in_flight'`, every 10 s per busy node),
// which would otherwise read every key of the last 24 h.
import type { Kysely } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

const COLUMNS = ["owner", "lease_until", "interaction_id"] as const;

export async function up(db: AnyDb): Promise<void> {
  for (const column of COLUMNS) await db.schema.alterTable("idempotency_keys").addColumn(column, "text").execute();
  await db.schema
    .createIndex("idempotency_keys_owner")
    .ifNotExists()
    .on("idempotency_keys")
    .columns(["owner", "state"])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex("idempotency_keys_owner").ifExists().execute();
  for (const column of COLUMNS) await db.schema.alterTable("idempotency_keys").dropColumn(column).execute();
}
