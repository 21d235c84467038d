// A manifest's tools as MCP tools: capability `type:tool` → tool name `type_tool` (made valid for MCP clients by
// ./tool-names.ts; `title` keeps the capability), an input schema built from
// the tool definition (its connector's URL placeholders, and the action fields the manifest's policy needs),
// and a description that says which policy applies. The arguments are the REST action without type/tool:
// `{ params, amount?, currency?, counterparty?, jurisdiction? }`.
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { capabilityOf, type Manifest, type ToolConfig } from "../../core/policy/types";
import { mcpToolNames } from "./tool-names";

export const APPROVAL_STATUS_TOOL = "gatehouse_approval_status";
/** Its name before tool names were made valid for MCP clients: still answered, never listed. */
export const LEGACY_APPROVAL_STATUS_TOOL = "gatehouse.approval_status";

/** The action fields an MCP tool call may carry besides its params. */
export const ACTION_FIELDS = ["amount", "currency", "counterparty", "jurisdiction"] as const;

export function toolNameOf(capability: string): string {
  const colon = capability.indexOf(":");
  return colon < 0 ? capability : `${capability.slice(0, colon)}.${capability.slice(colon + 1)}`;
}

// Per manifest object: the repository hands out the same frozen object while a manifest is unchanged, so a
// tools/call (and a tools/list) builds these once per manifest version instead of once per call.
const namesCache = new WeakMap<Manifest, Map<string, string>>();
const toolsCache = new WeakMap<Manifest, { amount: AmountBounds; tools: Tool[] }>();

/**
 * The bounds REST puts on an action's `amount` (the spec's Action schema, read by the caller from the loaded spec):
 * a tool's input schema states exactly them, so a client reading it neither refrains from sending what the face
 * accepts (a negative amount) nor sends what it refuses.
 */
export interface AmountBounds {
  minimum: number;
  maximum: number;
}

/** Listed tool name → capability, for the tools the manifest defines (each its own valid, unique name). */
export function capabilitiesByToolName(manifest: Manifest): Map<string, string> {
  const cached = namesCache.get(manifest);
  if (cached) return cached;
  const capabilities = Object.keys(manifest.tools);
  const listed = mcpToolNames(
    capabilities.map((capability) => ({ name: toolNameOf(capability), identity: capability })),
    new Set([APPROVAL_STATUS_TOOL]),
  );
  const names = new Map(listed.map((name, i) => [name, capabilities[i]!]));
  if (Object.isFrozen(manifest)) namesCache.set(manifest, names);
  return names;
}

/** `{param}` placeholders of an http/webhook URL template: the params the connector cannot run without. */
function urlParams(tool: ToolConfig): string[] {
  const url = tool.connector.url ?? "";
  return [...url.matchAll(/\{([A-Za-z0-9_.-]+)\}/g)].map((m) => m[1] ?? "").filter(Boolean);
}

function policyFacts(manifest: Manifest, capability: string) {
  const policy = manifest.policy ?? {};
  const threshold = policy.amount_threshold;
  const thresholdApplies =
    threshold !== undefined && (threshold.actions === undefined || threshold.actions.includes(capability));
  const counterpartyRules =
    policy.counterparty_allowlist !== undefined ||
    policy.counterparty_blocklist !== undefined ||
    policy.escalate_new_counterparties === true;
  const jurisdictionRules = policy.jurisdiction_allowlist !== undefined || policy.jurisdiction_blocklist !== undefined;
  return { policy, threshold, thresholdApplies, counterpartyRules, jurisdictionRules };
}

/** The sentences of a tool's description that say what policy applies to it. */
export function policySentences(manifest: Manifest, capability: string): string[] {
  const { policy, threshold, thresholdApplies, counterpartyRules, jurisdictionRules } = policyFacts(
    manifest,
    capability,
  );
  const out: string[] = [];
  if (manifest.constraints?.require_human_approval?.includes(capability))
    out.push("Every call needs a human approval.");
  if (policy.high_risk_actions?.includes(capability)) out.push("High-risk action: every call needs a human approval.");
  if (threshold && thresholdApplies)
    out.push(
      `Amounts above ${threshold.amount} ${threshold.currency} need a human approval; give amount and currency (${threshold.currency}).`,
    );
  if (policy.counterparty_allowlist) out.push(`Counterparty must match: ${policy.counterparty_allowlist.join(", ")}.`);
  if (policy.counterparty_blocklist) out.push(`Counterparties refused: ${policy.counterparty_blocklist.join(", ")}.`);
  if (policy.escalate_new_counterparties) out.push("A counterparty never seen before needs a human approval.");
  if (counterpartyRules) out.push("Give the counterparty (recipient) of the action.");
  out.push("Recipients in params.to/cc/bcc are checked against the capability token's allowed recipients.");
  if (jurisdictionRules)
    out.push("Give the counterparty's jurisdiction (ISO 3166-1 alpha-2); it is checked against the manifest's lists.");
  if (manifest.constraints?.max_actions_per_hour)
    out.push(`Budget: ${manifest.constraints.max_actions_per_hour} actions per hour.`);
  const money = manifest.constraints?.max_amount_per_hour;
  if (money) out.push(`Money budget: ${money.amount} ${money.currency} per hour, in total.`);
  if (policy.require_capability_token)
    out.push("A capability token is required (session header X-Capability-Token or _meta.capability_token).");
  return out;
}

function inputSchemaOf(
  manifest: Manifest,
  capability: string,
  tool: ToolConfig,
  bounds: AmountBounds,
): Tool["inputSchema"] {
  const { threshold, thresholdApplies, counterpartyRules, jurisdictionRules } = policyFacts(manifest, capability);
  const required: string[] = ["params"];
  if (thresholdApplies) required.push("amount", "currency");
  if (counterpartyRules) required.push("counterparty");
  if (jurisdictionRules) required.push("jurisdiction");
  const placeholders = urlParams(tool);
  const params: Record<string, unknown> = {
    type: "object",
    description: `Parameters passed to the tool's ${tool.connector.type} connector unchanged.`,
  };
  if (placeholders.length > 0) {
    params.properties = Object.fromEntries(placeholders.map((p) => [p, { type: ["string", "number"] }]));
    params.required = placeholders;
  }
  return {
    type: "object",
    properties: {
      params,
      amount: {
        type: "number",
        minimum: bounds.minimum,
        maximum: bounds.maximum,
        description: "Monetary value of the action.",
      },
      currency: {
        type: "string",
        description: threshold
          ? `ISO 4217 currency of amount (the threshold is in ${threshold.currency}).`
          : "ISO 4217 currency of amount.",
      },
      counterparty: {
        type: "string",
        description: "Who the action affects: an email address, a domain, an account id.",
      },
      jurisdiction: { type: "string", description: "ISO 3166-1 alpha-2 country of the counterparty." },
    },
    required,
    additionalProperties: false,
  };
}

/** The manifest's tools as MCP tools (the same array for the same frozen manifest: callers must not change it). */
export function manifestTools(manifest: Manifest, amount: AmountBounds): readonly Tool[] {
  const cached = toolsCache.get(manifest);
  if (cached?.amount === amount) return cached.tools;
  const tools: Tool[] = [];
  for (const [name, capability] of capabilitiesByToolName(manifest)) {
    const tool = manifest.tools[capability];
    if (!tool) continue;
    const lead = tool.description ?? `${capability} of ${manifest.agent.name}`;
    tools.push({
      name,
      title: capability,
      description: [
        `${lead}.`.replace(/\.\.$/, "."),
        "Governed by Gatehouse:",
        ...policySentences(manifest, capability),
      ].join(" "),
      inputSchema: inputSchemaOf(manifest, capability, tool, amount),
    });
  }
  if (Object.isFrozen(manifest)) toolsCache.set(manifest, { amount, tools });
  return tools;
}

export const approvalStatusTool: Tool = {
  name: APPROVAL_STATUS_TOOL,
  title: "Approval status",
  description:
    "The state of an approval a call of this agent is waiting for (pending, approved, denied, expired, consumed). " +
    "Once approved, call the same tool again with the same arguments and _meta.approval_id to run it.",
  inputSchema: {
    type: "object",
    properties: { approval_id: { type: "string", minLength: 1, maxLength: 256 } },
    required: ["approval_id"],
    additionalProperties: false,
  },
};

/**
 * The capability a tools/call names: a listed manifest tool, else `type.tool` split at the first dot (the names
 * listed before they were made valid for MCP clients, and tools the manifest lacks: the policy decides).
 */
export function capabilityForToolName(
  manifest: Manifest | undefined,
  name: string,
): { type: string; tool: string } | undefined {
  const capability = manifest ? capabilitiesByToolName(manifest).get(name) : undefined;
  const raw = capability ?? name.replace(".", ":");
  const colon = raw.indexOf(":");
  if (colon <= 0 || colon === raw.length - 1) return undefined;
  const action = { type: raw.slice(0, colon), tool: raw.slice(colon + 1) };
  return capabilityOf(action) === raw ? action : undefined;
}
