// What an approval authorises, reduced to one hash.
//
// The binding covers the agent (uapk_id + agent_id), the action (type, tool, params), the counterparty and the
// context (amount, currency, jurisdiction… whatever the policy engine based its ESCALATE on). An operator who
// approved "pay 50 EUR to ACME" has not approved "pay 5,000 EUR to someone else": any change gives another
// hash, and `consumeForExecution` refuses it.
import { sha256Canonical } from "../audit/canonical";

export interface ApprovalAction {
  type: string;
  tool: string;
  params?: Record<string, unknown>;
}

export interface ApprovalBinding {
  uapk_id: string;
  agent_id: string;
  action: ApprovalAction;
  counterparty?: unknown;
  context?: unknown;
}

export function bindingDocument(binding: ApprovalBinding) {
  return {
    agent: { uapk_id: binding.uapk_id, agent_id: binding.agent_id },
    action: { type: binding.action.type, tool: binding.action.tool, params: binding.action.params ?? {} },
    counterparty: binding.counterparty ?? null,
    context: binding.context ?? null,
  };
}

export function approvalBindingHash(binding: ApprovalBinding): string {
  return sha256Canonical(bindingDocument(binding));
}

/** Names the parts of `requested` that differ from what was approved, for a refusal message a human can act on. */
export function bindingDifferences(approved: ApprovalBinding, requested: ApprovalBinding): string[] {
  const a = bindingDocument(approved);
  const b = bindingDocument(requested);
  const differences: string[] = [];
  if (sha256Canonical(a.agent) !== sha256Canonical(b.agent)) differences.push("agent");
  if (a.action.type !== b.action.type || a.action.tool !== b.action.tool) differences.push("action type/tool");
  if (sha256Canonical(a.action.params) !== sha256Canonical(b.action.params)) differences.push("params");
  if (sha256Canonical(a.counterparty) !== sha256Canonical(b.counterparty)) differences.push("counterparty");
  if (sha256Canonical(a.context) !== sha256Canonical(b.context)) differences.push("context");
  return differences;
}
