// Every schema change of the shared store, in order. Add a change as a new numbered file and list it here;
// never edit a migration that has shipped (an installation that ran it would not run it again).
// Static imports rather than a folder scan: it works the same under tsx, a bundle and the tests.
import type { Migration } from "kysely/migration";
import * as initialSchema from "./0001_initial_schema";
import * as approvalCancelledStatus from "./0002_approval_cancelled_status";
import * as manifestVersions from "./0003_manifest_versions";
import * as webhooks from "./0004_webhooks";
import * as approvalExpiryIndex from "./0005_approval_expiry_index";
import * as auditRecordsRowid from "./0006_audit_records_rowid";
import * as idempotencyLeases from "./0007_idempotency_leases";
import * as approvalRedactPaths from "./0008_approval_redact_paths";
import * as budgetCountersBigint from "./0009_budget_counters_bigint";
import * as storeMeta from "./0010_store_meta";
import * as capabilityTokenAccountability from "./0011_capability_token_accountability";

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  "0001_initial_schema": initialSchema,
  "0002_approval_cancelled_status": approvalCancelledStatus,
  "0003_manifest_versions": manifestVersions,
  "0004_webhooks": webhooks,
  "0005_approval_expiry_index": approvalExpiryIndex,
  "0006_audit_records_rowid": auditRecordsRowid,
  "0007_idempotency_leases": idempotencyLeases,
  "0008_approval_redact_paths": approvalRedactPaths,
  "0009_budget_counters_bigint": budgetCountersBigint,
  "0010_store_meta": storeMeta,
  "0011_capability_token_accountability": capabilityTokenAccountability,
};
