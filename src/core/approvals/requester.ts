// Separation of duties: who asked for an approval, when a person did. The gateway's own faces (an MCP session opened
// with a person's token, an IDE's agent session) bind the person into the approval (`context.on_behalf_of`, with the
// channel: src/core/policy/action-hash.ts); on REST, `context.user` is only what the agent's API key says, so an
// approval asked there has no person as requester. The person who asked may not also be the human who approves.
import { GATEWAY_CHANNELS } from "../policy/action-hash";
import type { Approval } from "./types";

/** The person on whose behalf the approval was asked (a verified token's `sub`), or undefined. */
export function requesterOf(approval: Pick<Approval, "context">): string | undefined {
  return requestOf(approval)?.by;
}

/** Who asked for the approval and through which of the gateway's own faces (`mcp`, `agent_session`), or undefined. */
export function requestOf(
  approval: Pick<Approval, "context">,
): { by: string; via: "mcp" | "agent_session" } | undefined {
  const context = approval.context as { channel?: unknown; on_behalf_of?: unknown } | null | undefined;
  if (!context || !GATEWAY_CHANNELS.has(context.channel)) return undefined;
  if (typeof context.on_behalf_of !== "string") return undefined;
  return { by: context.on_behalf_of, via: context.channel as "mcp" | "agent_session" };
}

/**
 * The form two subjects are compared in: Unicode NFKC, then case folded. Stricter than the identity provider's own
 * comparison on purpose: `Alice@acme.com`, `alice@acme.com` and its fullwidth form are one mailbox to a human, and
 * refusing a look-alike only sends the approval to another operator.
 */
function folded(subject: string): string {
  return subject.normalize("NFKC").toLowerCase().normalize("NFKC");
}

/** Whether `approver` is the person who asked for `approval`. */
export function isSelfApproval(approval: Pick<Approval, "context">, approver: string): boolean {
  const requester = requesterOf(approval);
  return requester !== undefined && folded(requester) === folded(approver);
}
