// Who is accountable for a capability token: `issued_by` is the operator (their token's `sub`) who issued it,
// `revoked_by` the one who revoked it. `issuer_id` (the JWT's `iss`) stays a label the issuer may choose, so it
// cannot stand for the person. Both null on tokens issued (or revoked) before this migration.
import type { Kysely } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema; they cannot be typed by it.
type AnyDb = Kysely<any>;

export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable("capability_tokens").addColumn("issued_by", "text").execute();
  await db.schema.alterTable("capability_tokens").addColumn("revoked_by", "text").execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable("capability_tokens").dropColumn("revoked_by").execute();
  await db.schema.alterTable("capability_tokens").dropColumn("issued_by").execute();
}
