// The seam between a runtime's tool_call and the policy engine. Gatehouse's policy engine plugs in here;
// without it the reference rule applies: tools that change the user's machine always need approval.

export interface ToolPolicyContext {
  sub: string;
  orgId?: string;
  sessionId: string;
  callId: string;
  toolName: string;
  arguments: Record<string, unknown>;
}

export interface ToolPolicyDecision {
  decision: "ALLOW" | "DENY" | "ESCALATE";
  /** Set on ESCALATE: the approval record an operator (REST) or the IDE (hitl_decision) answers. */
  approvalId?: string;
  reasons: string[];
}

export type ToolPolicy = (ctx: ToolPolicyContext) => Promise<ToolPolicyDecision>;

/** From the original protocol: these always need a human's approval, whatever a policy says. */
export const ALWAYS_APPROVE_TOOLS: ReadonlySet<string> = new Set([
  "write_file",
  "delete_file",
  "run_command",
  "git.commit",
  "git.push",
]);

export const referenceToolPolicy: ToolPolicy = async ({ toolName }) =>
  ALWAYS_APPROVE_TOOLS.has(toolName)
    ? { decision: "ESCALATE", reasons: ["TOOL_REQUIRES_APPROVAL"] }
    : { decision: "ALLOW", reasons: [] };
