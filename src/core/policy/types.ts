// Shapes of the governed-actions policy engine. They ARE the spec's wire types (generated/api-types.ts from
// spec/gateway.tsp and spec/orgs.tsp), re-exported under the engine's names: the engine stays HTTP-free (the
// same pipeline decides REST calls and tool_calls of an agent session), but never re-declares a shape.
import type { components } from "../../../generated/api-types";

type Schemas = components["schemas"];

export type Decision = Schemas["Decision"];
export type CheckName = Schemas["CheckName"];
export type CheckResult = Schemas["CheckResult"];
/** DENY codes (seed 003, plus Gatehouse's fail-closed AMOUNT_UNVERIFIABLE). */
export type DenyCode = Schemas["DenyCode"];
export type EscalateCode = Schemas["EscalateCode"];
export type ReasonCode = Schemas["ReasonCode"];
export type Reason = Schemas["Reason"];
export type Action = Schemas["Action"];
export type PolicyTraceEntry = Schemas["PolicyCheck"];
export type RiskSnapshot = Schemas["RiskSnapshot"];

/** What the pipeline is asked to decide (evaluate's body; execute adds only transport fields). */
export type ActionRequest = Schemas["EvaluateRequest"];

// ── Manifests ──────────────────────────────────────────────────────────────────────────────────

export type ConnectorConfig = Schemas["ConnectorConfig"];
export type ConnectorType = ConnectorConfig["type"];
/** A header value injected from a secret (environment variable) at call time. */
export type SecretHeaderValue = Schemas["SecretHeaderValue"];
export type ToolConfig = Schemas["ToolConfig"];
export type AmountThreshold = Schemas["AmountThreshold"];
export type AmountPerHour = Schemas["AmountPerHour"];
export type ManifestPolicy = Schemas["ManifestPolicy"];
export type ManifestInput = Schemas["ManifestInput"];
export type ManifestStatus = Schemas["ManifestStatus"];
export type Manifest = Schemas["Manifest"];
export type ManifestChange = Schemas["ManifestChange"];
export type ManifestVersionInfo = Schemas["ManifestVersionInfo"];
export type ManifestVersion = Schemas["ManifestVersion"];

/** `type:tool` — the key of capabilities, tools, approval and risk lists. */
export function capabilityOf(action: Pick<Action, "type" | "tool">): string {
  return `${action.type}:${action.tool}`;
}
