// Which paths of an approval's params are redacted wherever it is shown (operator API, console, webhooks, its
// verdict's audit record). The approval keeps the paths its tool named when it was asked for; the tool's manifest
// may change afterwards. Redaction never weakens with time: the paths in force then AND the tool's current ones.
import type { Approval } from "./types";

export function approvalRedactPaths(
  approval: Pick<Approval, "redact">,
  current: readonly string[] | undefined,
): string[] {
  const kept = Array.isArray(approval.redact) ? approval.redact.filter((p) => typeof p === "string") : [];
  return [...new Set([...kept, ...(current ?? [])])];
}
