export type { PublicJwk as AuditPublicJwk } from "../keys";
export type {
  ActionInput,
  ApprovalDecisionInput,
  ApprovalRefusalInput,
  AuditListFilter,
  AuditLog,
  AuditPage,
  DecisionInput,
  IntentInput,
  OutcomeInput,
  RecordedAction,
  TokenRecordInput,
} from "./audit-log";
export { createAuditLog, cursorAfterRecord, InvalidAuditQueryError, newInteractionId } from "./audit-log";
export { canonicalJson, sha256Canonical } from "./canonical";
export { CHAIN_HEAD_TYPE, type ChainHead, chainHeadProblem, signChainHead } from "./chain-head";
export { interactionVerdict } from "./interaction-verdict";
export type { AuditRecord, AuditRecordKind, Decision } from "./record";
export { GENESIS_HASH } from "./record";
export { REDACTED, redactPaths } from "./redact";
export { type ChainVerification, verifyRecords } from "./verify";
