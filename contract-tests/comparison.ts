// What comparing a live answer with its documented example takes (./expectations.ts, ./evidence-expectations.ts):
// the replay's context, the comparison's signature, and the fields that differ per run.
import type { ExampleCase } from "./examples";

type Json = unknown;

/** What the replay knows besides the two bodies: the request as sent (after setup overrides), setup facts. */
export interface ReplayContext {
  request: ExampleCase;
  facts: Record<string, unknown>;
}
export type Comparison = (documented: Json, live: Json, context: ReplayContext) => void;

const VOLATILE = new Set([
  "interaction_id",
  "timestamp",
  "path",
  "duration_ms",
  "request_id",
  "correlation_id",
  "token",
  "token_id",
  "expires_at",
  "approval_id",
  "batch_id",
  "message_id",
  "sent_at",
  "original_timestamp",
  "version",
  "created_at",
  "updated_at",
  "revoked_at",
  "manifest_id",
  "instance",
  "issued_at",
  "webhook_id",
]);

export function withoutVolatile(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutVolatile);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, Json>)
        .filter(([k]) => !VOLATILE.has(k))
        .map(([k, v]) => [k, withoutVolatile(v)]),
    );
  }
  return value;
}
