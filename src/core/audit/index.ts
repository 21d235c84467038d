export { createAuditLog, cursorAfterRecord, newInteractionId, InvalidAuditQueryError } from "./audit-log";
export type {
  AuditLog,
  AuditListFilter,
  AuditPage,
  RecordedAction,
  ActionInput,
  IntentInput,
  OutcomeInput,
  DecisionInput,
  ApprovalDecisionInput,
  ApprovalRefusalInput,
  TokenRecordInput,
} from "./audit-log";
export type { AuditRecord, AuditRecordKind, Decision } from "./record";
export { GENESIS_HASH } from "./record";
export type { PublicJwk as AuditPublicJwk } from "../keys";
export { verifyRecords, type ChainVerification } from "./verify";
export { canonicalJson, sha256Canonical } from "./canonical";
export { redactPaths, REDACTED } from "./redact";
export { CHAIN_HEAD_TYPE, chainHeadProblem, signChainHead, type ChainHead } from "./chain-head";
