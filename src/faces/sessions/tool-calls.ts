// The life of one tool call, from the runtime's tool_call to the IDE's answer:
//
//   runtime tool_call ──policy──▶ DENY: TOOL_DENIED to the IDE, an error tool_result to the runtime (ends)
//                                 ALLOW / ESCALATE: pending, passed to the IDE (requires_approval when escalated)
//   pending, awaiting approval ──▶ the IDE's hitl_decision (approve / reject / edit) or an operator over REST
//                                  (governed: the approvals store decides and the policy re-checks; reference:
//                                  the IDE's decision goes straight to the runtime)
//   pending, runnable ──────────▶ the IDE's tool_result: relayed to the runtime and recorded as the outcome
import { randomUUID } from "node:crypto";
import type { HitlDecision, RuntimeHitlDecision, RuntimeToolCall, ToolResult } from "../../../generated/messages/types";
import { logger } from "../../core/log/logger";
import { sessionMetrics as metrics } from "./metrics";
import type { RuntimeLink } from "./runtime-link";
import type { RuntimeLinks } from "./runtime-links";
import type { LiveSession, PendingCall, SessionRegistry } from "./session-state";
import {
  ALWAYS_APPROVE_TOOLS,
  type EditRefused,
  type ToolApprovals,
  type ToolOutcome,
  type ToolOutcomeRecorder,
  type ToolPolicy,
  type ToolPolicyContext,
  type ToolPolicyDecision,
  type ToolRelease,
} from "./tool-policy";

const log = logger.child({ module: "sessions" });

export interface ToolCallsDeps {
  registry: SessionRegistry;
  runtime: RuntimeLinks;
  toolPolicy: ToolPolicy;
  approvals?: ToolApprovals | undefined;
  recordOutcome?: ToolOutcomeRecorder | undefined;
  /** Unanswered calls one session may hold (./options.ts maxPendingCallsPerSession). */
  maxPendingCalls: number;
}

/** How an escalated call was answered, as the runtime hears it. */
type ReleaseVia = { decision: "approve" | "edit"; messageId?: string | undefined; feedback?: string | undefined };

export class ToolCalls {
  constructor(private readonly deps: ToolCallsDeps) {}

  // ---------------------------------------------------------------- runtime → IDE

  /** A runtime tool_call: decided by the policy, then denied (both sides told) or passed to the IDE. */
  async decide(session: LiveSession, link: RuntimeLink, frame: RuntimeToolCall): Promise<void> {
    const { call_id: callId, tool_name: toolName } = frame;
    if (session.pendingCalls.has(callId)) return refuseReusedCallId(link, callId);
    if (session.pendingCalls.size >= this.deps.maxPendingCalls) {
      return refuseOverPendingCap(link, callId, this.deps.maxPendingCalls);
    }
    const ctx = policyContext(session, frame);
    const verdict = await this.verdict(ctx);
    metrics.toolDecisions.inc({ decision: verdict.decision });

    if (verdict.decision === "DENY") {
      const text = `Tool ${toolName} was denied by policy${verdict.detail ? `: ${verdict.detail}` : ""}`;
      this.deps.registry.sendError(session, "TOOL_DENIED", text, {
        details: { call_id: callId, tool_name: toolName, reasons: verdict.reasons },
      });
      link.send({ type: "tool_result", call_id: callId, error: { code: "TOOL_DENIED", message: text } });
      metrics.messages.inc({ direction: "gateway_to_runtime", type: "tool_result" });
      return;
    }
    // The runtime's requires_approval can only add a requirement; policy and the fixed list decide the rest.
    const requiresApproval =
      verdict.decision === "ESCALATE" || ALWAYS_APPROVE_TOOLS.has(toolName) || frame.requires_approval === true;
    const pending: PendingCall = { toolName, ctx, approvalId: verdict.approvalId, awaitingApproval: requiresApproval };
    session.pendingCalls.set(callId, pending);
    this.deps.registry.emit(session, {
      ...runtimeOwned(frame),
      requires_approval: requiresApproval,
      ...(verdict.approvalId ? { approval_id: verdict.approvalId } : {}),
    });
    if (verdict.approvalId && this.deps.approvals) this.watchApproval(session, callId, pending);
  }

  private async verdict(ctx: ToolPolicyContext): Promise<ToolPolicyDecision> {
    try {
      return await this.deps.toolPolicy(ctx);
    } catch (err) {
      log.error({ err, callId: ctx.callId, toolName: ctx.toolName }, "tool policy failed; denying (fail closed)");
      return { decision: "DENY", reasons: ["POLICY_ERROR"] };
    }
  }

  // ---------------------------------------------------------------- IDE answers

  /** Why the IDE may not send this decision or result now (it must answer a call Gatehouse passed to it). */
  refusal(session: LiveSession, frame: HitlDecision | ToolResult): string | undefined {
    const pending = session.pendingCalls.get(frame.call_id);
    if (!pending) return `No pending tool call ${frame.call_id}`;
    if (frame.type === "hitl_decision" && !pending.awaitingApproval) {
      return `Tool call ${frame.call_id} is not waiting for approval`;
    }
    // A decision naming an approval answers that approval only: the exact id the call's tool_call carried (no case
    // folding, no trimming). Any other id (another call's, another user's, a made-up one; or any id at all for a
    // call without an approval record) is refused rather than applied to the call's own approval.
    if (frame.type === "hitl_decision" && frame.approval_id !== undefined && frame.approval_id !== pending.approvalId) {
      return pending.approvalId === undefined
        ? `Tool call ${frame.call_id} has no approval; a decision naming one cannot answer it`
        : `Tool call ${frame.call_id} is waiting for its own approval, not the one this decision names`;
    }
    // Under a policy, a call waiting for the IDE without an approval record was ALLOWed as sent (the IDE's
    // approval is asked because the runtime or ALWAYS_APPROVE_TOOLS wants it): an edit would run arguments the
    // policy never checked, and the audit would keep the ones it did. An edit needs an approval record to re-check.
    if (frame.type === "hitl_decision" && frame.decision === "edit" && this.deps.approvals && !pending.approvalId) {
      return `Tool call ${frame.call_id} was allowed by the policy with its arguments as sent: approve or reject it (an edit would run arguments the policy has not checked)`;
    }
    if (frame.type === "tool_result" && this.governs(pending) && !pending.released) {
      return `Tool call ${frame.call_id} is waiting for approval ${pending.approvalId}; its result cannot be sent yet`;
    }
    return undefined;
  }

  /**
   * Audits a hitl_decision `refusal` refused, as a refused decision over REST is (a `refusal` record of the approval
   * it names, else of its call's; see ToolApprovals.auditRefused). Nothing without an approvals store or approval.
   */
  async auditRefusal(session: LiveSession, frame: HitlDecision): Promise<void> {
    const own = session.pendingCalls.get(frame.call_id)?.approvalId;
    const approvalId = frame.approval_id ?? own;
    if (approvalId === undefined || !this.deps.approvals?.auditRefused) return;
    const { ownerSub: sub, orgId } = session.record;
    await this.deps.approvals.auditRefused(
      { sub, orgId },
      { approvalId, ownApprovalId: own, decision: frame.decision },
    );
  }

  /** Governed: an approval record exists and the approvals store decides (not the IDE's frame alone). */
  governs(pending: PendingCall): boolean {
    return pending.approvalId !== undefined && this.deps.approvals !== undefined;
  }

  /** Reference mode (no approvals store): the IDE's decision goes straight to the runtime, as returned. */
  settleByIde<F extends RuntimeHitlDecision>(session: LiveSession, frame: F): F {
    const pending = session.pendingCalls.get(frame.call_id)!;
    pending.awaitingApproval = false;
    if (frame.decision === "reject") session.pendingCalls.delete(frame.call_id);
    return pending.approvalId ? { ...frame, approval_id: pending.approvalId } : frame;
  }

  /**
   * The IDE answers a governed call: approve/reject are recorded on the approval, edit is re-checked. `recorded` is
   * called once the decision counts, before anything of the call's outcome is sent (the IDE hears its ack first).
   * Resolves undefined when it counted, else with why the approval no longer takes it (decided first elsewhere,
   * expired; an edit too); throws when the approvals store failed to record an approve / reject (nothing decided:
   * the call still waits).
   */
  async decideGoverned(
    session: LiveSession,
    frame: HitlDecision,
    messageId: string,
    recorded: () => void,
  ): Promise<string | undefined> {
    const pending = session.pendingCalls.get(frame.call_id)!;
    pending.awaitingApproval = false;
    if (frame.decision === "edit") return this.editGoverned(session, frame, pending, messageId, recorded);
    return this.recordDecision(pending, frame.decision, frame.feedback, messageId, recorded);
  }

  /**
   * The IDE's edit. The watcher waits until it is known whether the edit closed the original approval: if it did,
   * the watcher is stopped (that close is no rejection) and the edited call's release is applied; if the approval
   * was no longer pending (an operator decided first, it expired), the edit is refused and the watcher tells the IDE
   * the original call's outcome.
   */
  private async editGoverned(
    session: LiveSession,
    frame: HitlDecision,
    pending: PendingCall,
    messageId: string,
    recorded: () => void,
  ): Promise<string | undefined> {
    const callId = frame.call_id;
    const edited = (frame.modified_arguments as Record<string, unknown> | undefined) ?? pending.ctx.arguments;
    const settle = startRecording(pending);
    let result: ToolRelease | EditRefused | undefined;
    try {
      result = await this.deps.approvals!.edit(pending.ctx, pending.approvalId!, edited, frame.feedback);
    } catch (err) {
      log.error({ err, callId }, "checking an edited tool call failed; rejecting it (fail closed)");
    } finally {
      // Closed by the edit (or failed: rejected below): the watcher must not report the close as a rejection.
      if (result === undefined || !("refused" in result)) pending.watcher?.abort();
      settle();
    }
    // Not taken: the IDE is told the outcome as of a decision made elsewhere (no ack, INVALID_CALL_ID).
    if (result !== undefined && "refused" in result) return result.refused;
    // Unchecked, the edit did not count: no ack, the rejection (TOOL_DENIED) is the IDE's answer.
    if (result) recorded();
    const release: ToolRelease = result ?? {
      outcome: "rejected",
      approvalId: pending.approvalId,
      reason: "The edited call could not be checked",
      reasons: ["POLICY_ERROR"],
    };
    const via: ReleaseVia = { decision: "edit", messageId, feedback: frame.feedback };
    await this.applyRelease(session, callId, pending, release, via);
    return undefined;
  }

  /** The IDE's approve / reject on the approval; the watcher waits until it is known whether it counted. */
  private async recordDecision(
    pending: PendingCall,
    decision: "approve" | "reject",
    feedback: string | undefined,
    messageId: string,
    recorded: () => void,
  ): Promise<string | undefined> {
    pending.ideDecision = { decision, messageId, feedback };
    const settle = startRecording(pending);
    try {
      const refusal = await this.deps.approvals!.decide(pending.ctx, pending.approvalId!, decision, feedback);
      // Not taken (decided first elsewhere, expired): the IDE is told the outcome as of a decision made elsewhere.
      if (refusal === undefined) recorded();
      else pending.ideDecision = undefined;
      return refusal;
    } catch (err) {
      // Not recorded: the call still waits, and the IDE may answer it again.
      pending.awaitingApproval = true;
      pending.ideDecision = undefined;
      throw err;
    } finally {
      settle();
    }
  }

  /** The IDE ran the call: it is no longer pending, and its outcome is recorded (never awaited). */
  completeWithResult(session: LiveSession, frame: ToolResult): void {
    const pending = session.pendingCalls.get(frame.call_id);
    session.pendingCalls.delete(frame.call_id);
    const record = this.deps.recordOutcome;
    if (!pending || !record) return;
    const callId = frame.call_id;
    try {
      record(pending.ctx, outcomeOf(frame)).catch((err: unknown) =>
        log.error({ err, callId }, "recording a tool call's outcome failed"),
      );
    } catch (err) {
      log.error({ err, callId }, "recording a tool call's outcome failed");
    }
  }

  // ---------------------------------------------------------------- escalated calls

  /** Follows an escalated call's approval in the store, whoever decides it (the IDE or an operator over REST). */
  private watchApproval(session: LiveSession, callId: string, pending: PendingCall): void {
    const watcher = new AbortController();
    pending.watcher = watcher;
    const via = (): ReleaseVia => ({
      decision: "approve",
      messageId: pending.ideDecision?.messageId,
      feedback: pending.ideDecision?.feedback,
    });
    const apply = async (release: ToolRelease) => {
      // An IDE decision still being recorded decides what the IDE is told: wait until it counted or did not (a
      // loop: another may have begun meanwhile). No await between the last check and applyRelease's first steps.
      while (pending.recording) await pending.recording;
      if (!watcher.signal.aborted) await this.applyRelease(session, callId, pending, release, via());
    };
    this.deps
      .approvals!.settled(pending.ctx, pending.approvalId!, watcher.signal)
      .then(apply, (err: unknown) => {
        if (watcher.signal.aborted) return;
        log.error({ err, callId }, "following the approval failed; rejecting the call (fail closed)");
        return apply({
          outcome: "rejected",
          approvalId: pending.approvalId,
          reason: "The approval could not be checked",
          reasons: ["POLICY_ERROR"],
        });
      })
      .catch((err) => log.error({ err, callId }, "releasing a tool call failed"));
  }

  /** The end of an escalated call: runnable (IDE told unless it decided, runtime gets the decision) or never. */
  private async applyRelease(
    session: LiveSession,
    callId: string,
    pending: PendingCall,
    release: ToolRelease,
    via: ReleaseVia,
  ): Promise<void> {
    if (session.pendingCalls.get(callId) !== pending || !this.deps.registry.isCurrent(session)) return;
    const messageId = via.messageId ?? randomUUID();
    if (release.outcome === "escalated") {
      pending.approvalId = release.approvalId;
      pending.awaitingApproval = true;
      pending.ideDecision = undefined;
      this.deps.registry.emit(session, {
        type: "tool_call",
        call_id: callId,
        tool_name: pending.toolName,
        arguments: pending.ctx.arguments,
        requires_approval: true,
        approval_id: release.approvalId,
      });
      this.watchApproval(session, callId, pending);
    } else if (release.outcome === "rejected") {
      await this.reject(session, callId, pending, release, messageId);
    } else {
      await this.release(session, callId, pending, release, via, messageId);
    }
  }

  private async reject(
    session: LiveSession,
    callId: string,
    pending: PendingCall,
    release: Extract<ToolRelease, { outcome: "rejected" }>,
    messageId: string,
  ): Promise<void> {
    session.pendingCalls.delete(callId);
    metrics.toolDecisions.inc({ decision: "REJECTED" });
    if (pending.ideDecision?.decision !== "reject") {
      this.deps.registry.sendError(
        session,
        "TOOL_DENIED",
        `Tool ${pending.toolName} was not approved: ${release.reason}`,
        {
          details: {
            call_id: callId,
            tool_name: pending.toolName,
            reasons: release.reasons,
            ...(release.approvalId ? { approval_id: release.approvalId } : {}),
          },
        },
      );
    }
    await this.sendDecision(session, {
      type: "hitl_decision",
      call_id: callId,
      decision: "reject",
      // The IDE user's own feedback on their own reject, else the outcome: never an operator's note
      // (./governed-approvals.ts).
      feedback: pending.ideDecision?.feedback ?? release.reason,
      message_id: messageId,
      ...(release.approvalId ? { approval_id: release.approvalId } : {}),
    });
  }

  private async release(
    session: LiveSession,
    callId: string,
    pending: PendingCall,
    release: Extract<ToolRelease, { outcome: "approved" }>,
    via: ReleaseVia,
    messageId: string,
  ): Promise<void> {
    pending.awaitingApproval = false;
    pending.released = true;
    if (release.approvalId) pending.approvalId = release.approvalId;
    metrics.toolDecisions.inc({ decision: "RELEASED" });
    if (pending.ideDecision?.decision !== "approve") {
      // Approved elsewhere (an operator) or edited: this is the call the IDE may run now.
      this.deps.registry.emit(session, {
        type: "tool_call",
        call_id: callId,
        tool_name: pending.toolName,
        arguments: release.arguments,
        requires_approval: false,
        ...(pending.approvalId ? { approval_id: pending.approvalId } : {}),
      });
    }
    await this.sendDecision(session, {
      type: "hitl_decision",
      call_id: callId,
      decision: via.decision,
      message_id: messageId,
      ...(via.decision === "edit" ? { modified_arguments: release.arguments } : {}),
      ...(via.feedback ? { feedback: via.feedback } : {}),
      ...(pending.approvalId ? { approval_id: pending.approvalId } : {}),
    });
  }

  private async sendDecision(session: LiveSession, frame: RuntimeHitlDecision): Promise<void> {
    const link = await this.deps.runtime.linkFor(session);
    if (!link?.send(frame)) {
      this.deps.registry.sendError(session, "AGENT_UNAVAILABLE", "Agent runtime is unavailable", {
        details: { call_id: frame.call_id },
      });
      return;
    }
    metrics.messages.inc({ direction: "gateway_to_runtime", type: frame.type });
  }
}

/**
 * A call_id names one call while it is pending: the IDE's decision and result, the approval and the audited outcome
 * are all found by it. A second tool_call with that id is never decided nor shown to the IDE (its answer would
 * apply to arguments the user never saw); the runtime hears why.
 */
function refuseReusedCallId(link: RuntimeLink, callId: string): void {
  log.warn({ callId }, "the runtime reused the call_id of a pending tool call; refused");
  const message = `Tool call ${callId} is still pending: a new call needs a call_id of its own`;
  link.send({ type: "tool_result", call_id: callId, error: { code: "INVALID_CALL_ID", message } });
  metrics.messages.inc({ direction: "gateway_to_runtime", type: "tool_result" });
}

/**
 * The session already holds as many unanswered calls as it may: this one is neither decided nor shown to the IDE
 * (a pending call keeps its arguments until the IDE answers it or the session ends). The runtime hears why and may
 * ask again once the IDE answered one.
 */
function refuseOverPendingCap(link: RuntimeLink, callId: string, max: number): void {
  log.warn({ callId, max }, "the session holds as many pending tool calls as it may; refused");
  const message = `The session already has ${max} tool calls waiting for the IDE; ask again once one is answered`;
  link.send({ type: "tool_result", call_id: callId, error: { code: "TOO_MANY_PENDING_CALLS", message } });
  metrics.messages.inc({ direction: "gateway_to_runtime", type: "tool_result" });
}

/**
 * A runtime tool_call without the fields Gatehouse sets (spec ToolCall: `requires_approval`, `approval_id`; `seq`
 * is dropped for every runtime frame). A runtime's own approval_id would reach the IDE on a call the policy
 * allowed: an operator shown another user's approval on a harmless call could approve that one over REST.
 */
function runtimeOwned(frame: RuntimeToolCall): RuntimeToolCall {
  const { approval_id: _approvalId, requires_approval: _requiresApproval, seq: _seq, ...call } = frame;
  return call;
}

function policyContext(session: LiveSession, frame: RuntimeToolCall): ToolPolicyContext {
  return {
    sub: session.record.ownerSub,
    orgId: session.record.orgId,
    sessionId: session.record.id,
    callId: frame.call_id,
    toolName: frame.tool_name,
    arguments: frame.arguments as Record<string, unknown>,
    ...(session.agent ? { agent: session.agent } : {}),
  };
}

/** The IDE's tool_result as an outcome: a string error becomes its message. */
function outcomeOf(frame: ToolResult): ToolOutcome {
  const error = typeof frame.error === "string" ? { message: frame.error } : frame.error;
  return {
    success: frame.result !== undefined && frame.error === undefined,
    ...(frame.result !== undefined ? { result: frame.result } : {}),
    ...(error !== undefined ? { error } : {}),
  };
}

/**
 * Marks an IDE decision as being recorded on the call's approval: the approval's watcher waits on it before it tells
 * the IDE anything (`watchApproval`). Returns what ends it, once the record counted or did not.
 */
function startRecording(pending: PendingCall): () => void {
  let settle: () => void = () => undefined;
  const recording = new Promise<void>((resolve) => {
    settle = resolve;
  });
  pending.recording = recording;
  return () => {
    if (pending.recording === recording) pending.recording = undefined;
    settle();
  };
}
