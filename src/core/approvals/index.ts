export {
  createApprovalStore,
  consumeForExecution,
  DEFAULT_APPROVAL_TTL_MS,
  EXPIRY_BATCH,
  type Approval,
  type ApprovalRisk,
  type AgentApprovalView,
  type ApprovalPosition,
  type ApprovalStatus,
  type ApprovalStore,
  type ApprovalStoreOptions,
  type AskedApproval,
  type CreateApprovalInput,
  type DecideResult,
  type ConsumeInput,
  type ConsumeResult,
  type ConsumeRefusal,
  type DecisionListener,
} from "./approvals";
export { pendingOnChannel } from "./listing";
export { approvalRedactPaths } from "./redaction";
export { boundedRisk, MAX_RISK_RECIPIENTS } from "./risk";
export { approvalBindingHash, bindingDifferences, type ApprovalAction, type ApprovalBinding } from "./binding";
export { isSelfApproval, requesterOf, requestOf } from "./requester";
