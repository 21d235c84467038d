// The seams between a runtime's tool_call and Gatehouse's governance. `ToolPolicy` decides a call;
// `ToolApprovals` is the approvals store behind an ESCALATE (decided by the IDE or by an operator over REST).
// Gatehouse wires both to the governed-actions engine (./governed-tools.ts); without them the reference rule
// applies: tools that change the user's machine always need the IDE user's approval.

export interface ToolPolicyContext {
  sub: string;
  orgId?: string | undefined;
  sessionId: string;
  callId: string;
  toolName: string;
  arguments: Record<string, unknown>;
  /** The runtime's current agent (from its last `agent_switched`), when it said. */
  agent?: string;
}

export interface ToolPolicyDecision {
  decision: "ALLOW" | "DENY" | "ESCALATE";
  /** Set on ESCALATE: the approval record an operator (REST) or the IDE (hitl_decision) answers. */
  approvalId?: string;
  /** Reason codes, e.g. TOOL_NOT_AUTHORIZED, REQUIRES_APPROVAL. */
  reasons: string[];
  /** A sentence for the user, when the engine gave one. */
  detail?: string;
}

export type ToolPolicy = (ctx: ToolPolicyContext) => Promise<ToolPolicyDecision>;

/** What the IDE reported for a tool call it ran (its `tool_result` frame). */
export interface ToolOutcome {
  /** True when the IDE sent `result` and no `error`. */
  success: boolean;
  result?: unknown;
  error?: { code?: string; message?: string };
}

/**
 * Records the IDE's `tool_result` for a call the policy decided, as that call's outcome in the audit log.
 * The session gateway calls it once per `tool_result` it accepts for a pending call (before forwarding it to
 * the runtime: the IDE ran the tool whether or not the runtime is reachable); it never throws.
 */
export type ToolOutcomeRecorder = (ctx: ToolPolicyContext, outcome: ToolOutcome) => Promise<void>;

/** How an escalated call ends once its approval is decided and the policy has checked the call again. */
export type ToolRelease =
  /** Runnable now; `arguments` are what was approved (the edited ones after an IDE `edit`). */
  | { outcome: "approved"; approvalId?: string; arguments: Record<string, unknown> }
  /** Never runnable: denied by a human, expired, or denied by the policy on re-check. */
  | { outcome: "rejected"; approvalId?: string | undefined; reason: string; reasons: string[] }
  /** The approval could not be used (e.g. spent by an identical call); a new one waits for a decision. */
  | { outcome: "escalated"; approvalId: string };

/** The IDE user's answer to an escalated call (hitl_decision `decision`). */
export type IdeDecision = "approve" | "reject" | "edit";

/** A hitl_decision refused before it reached the approvals store: the approval it concerns, and the call's own. */
export interface RefusedDecision {
  /** The approval the decision names, else its call's (when the call is known). */
  approvalId: string;
  /** The approval of the call the decision answers, when that call is still known and has one. */
  ownApprovalId?: string | undefined;
  decision: IdeDecision;
}

/** An IDE edit the original approval no longer takes: why (e.g. "Approval … is already approved"). */
export interface EditRefused {
  refused: string;
}

export interface ToolApprovals {
  /**
   * Resolves once approval `approvalId` is no longer pending — whoever decided it — with the outcome after
   * the policy re-checked the call (an approved call is released only if it is still allowed). Rejects with
   * an AbortError when `signal` aborts. `stillOurs`, when given, is asked once the approval is decided and before
   * anything is done with it (an approved one is spent by the release): false, the turn is no longer the caller's
   * (another node took it over), and the settle rejects with an AbortError, nothing spent.
   */
  settled(
    ctx: ToolPolicyContext,
    approvalId: string,
    signal: AbortSignal,
    stillOurs?: () => Promise<boolean>,
  ): Promise<ToolRelease>;
  /**
   * The IDE user's approve / reject, recorded on the approval (the first decision wins). Resolves undefined when it
   * was recorded, else with why not (decided first by someone else, expired, gone); throws when the store failed.
   */
  decide(
    ctx: ToolPolicyContext,
    approvalId: string,
    decision: "approve" | "reject",
    feedback?: string,
  ): Promise<string | undefined>;
  /**
   * The IDE user's edit: the original approval is closed and the edited call goes through the policy again.
   * Resolves with the edited call's release, or `{ refused }` (why) when the original approval no longer takes the
   * edit (decided first by someone else, expired, gone): nothing was closed nor checked, and `settled` reports how
   * the original call ends. Throws when the store or the policy failed.
   */
  edit(
    ctx: ToolPolicyContext,
    approvalId: string,
    modifiedArguments: Record<string, unknown>,
    feedback?: string,
  ): Promise<ToolRelease | EditRefused>;
  /**
   * A hitl_decision refused before it reached the store (the call no longer waits, or it names an approval not its
   * call's own): audited as a `refusal` when it concerns an approval of the user's org (see governed-approvals.ts);
   * never throws. (A decision the store refuses is audited by `decide` / `edit`.)
   */
  auditRefused?(ctx: Pick<ToolPolicyContext, "sub" | "orgId">, refused: RefusedDecision): Promise<void>;
  /** The session was cancelled or abandoned: its open approval is resolved as cancelled (never used later). */
  cancel?(ctx: ToolPolicyContext, approvalId: string, reason: string): Promise<void>;
}

/** From the original protocol: these always need the IDE user's approval, whatever a policy says. */
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
