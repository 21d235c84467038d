export {
  attachSessionGateway,
  DEFAULT_SESSION_OPTIONS,
  type HitlDecisionEvent,
  type SessionGateway,
  type SessionGatewayDeps,
  type SessionGatewayHealth,
  type SessionGatewayOptions,
} from "./gateway";
export { CloseCode } from "./close-codes";
export { createMemorySessionStore, type SessionStore } from "./session-store";
export { ALWAYS_APPROVE_TOOLS, referenceToolPolicy, type ToolPolicy, type ToolPolicyContext, type ToolPolicyDecision } from "./tool-policy";
export { loadMessageValidators, type MessageValidators } from "./schemas";
export { probeRuntime } from "./runtime-link";
