export {
  attachSessionGateway,
  DEFAULT_SESSION_OPTIONS,
  type SessionGateway,
  type SessionGatewayDeps,
  type SessionGatewayHealth,
  type SessionGatewayOptions,
} from "./gateway";
export { CloseCode } from "./close-codes";
export { createMemorySessionStore, type SessionStore } from "./session-store";
export { createRedisSessionStore, type RedisSessionStoreOptions } from "./redis-session-store";
export {
  createGovernedTools,
  DEFAULT_SESSION_MANIFEST,
  IDE_ACTION_TYPE,
  SESSION_CHANNEL,
  type GovernedTools,
  type GovernedToolsDeps,
} from "./governed-tools";
export {
  ALWAYS_APPROVE_TOOLS,
  referenceToolPolicy,
  type ToolApprovals,
  type ToolPolicy,
  type ToolPolicyContext,
  type ToolPolicyDecision,
  type ToolRelease,
} from "./tool-policy";
export { cancelLeftoverApprovals, RESTART_REASON } from "./node-approvals";
export { loadMessageValidators, type MessageValidators } from "./schemas";
export { probeRuntime } from "./runtime-link";
