// What an approval is bound to, in the approvals module's binding format (src/core/approvals/binding.ts):
// the agent, the exact action (type, tool, params), the counterparty, and the facts the policy based its
// ESCALATE on (amount, currency, jurisdiction), and the person on whose behalf the agent acts when the
// request names one (`context.user`, set by the sessions face): one user's approval never releases another
// user's identical call. The rest of the free-form request `context` is NOT bound: it never loosens a
// decision, and an agent's retry may describe itself anew.
// `context.user` is vouched for only on the gateway's own channels (GATEWAY_CHANNELS: the sessions and MCP faces
// set it from the caller's verified token); on REST it is what the API-key caller says. The channel is bound
// too, so a REST call claiming a person's `user` never matches that person's approval.
import { approvalBindingHash, type ApprovalBinding } from "../approvals/binding";
import type { ActionRequest } from "./types";

/** The `context.channel` values only the gateway's own faces set (REST callers may not claim them). */
export const GATEWAY_CHANNELS: ReadonlySet<unknown> = new Set(["mcp", "agent_session"]);

export function approvalBindingOf(
  request: Pick<ActionRequest, "uapk_id" | "agent_id" | "action" | "context">,
): ApprovalBinding {
  const { type, tool, params, amount, currency, counterparty, jurisdiction } = request.action;
  const facts: Record<string, unknown> = {};
  if (GATEWAY_CHANNELS.has(request.context?.channel)) facts.channel = request.context?.channel;
  if (typeof request.context?.user === "string") facts.on_behalf_of = request.context.user;
  // An approval asked in an agent session belongs to that session: no other session can share or use it.
  if (typeof request.context?.session_id === "string") facts.session_id = request.context.session_id;
  if (amount !== undefined) facts.amount = amount;
  if (currency !== undefined) facts.currency = currency;
  if (jurisdiction !== undefined) facts.jurisdiction = jurisdiction;
  return {
    uapk_id: request.uapk_id,
    agent_id: request.agent_id,
    action: { type, tool, params },
    ...(counterparty !== undefined ? { counterparty } : {}),
    ...(Object.keys(facts).length > 0 ? { context: facts } : {}),
  };
}

export function actionHash(request: Pick<ActionRequest, "uapk_id" | "agent_id" | "action" | "context">): string {
  return approvalBindingHash(approvalBindingOf(request));
}
