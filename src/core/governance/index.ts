export {
  createGovernanceEngine,
  type GatewayHealth,
  type GovernanceEngine,
  type GovernanceEngineDeps,
  type SqliteGovernanceEngine,
} from "./engine";
export type { AuthorizeOptions } from "./authorize";
export { purutoInvokerFrom, normalizeResult, type PurutoCommandInvoker } from "./connectors";
export type {
  ApprovalsPort,
  GovernanceAudit,
  IdempotencyPort,
  Reservation,
  ReservationResult,
  ReservationStore,
} from "./ports";
export {
  ActionConflictError,
  ActionUnavailableError,
  type ActionResult,
  type Authorization,
  type AuthorizedCall,
  type BatchRequest,
  type BatchResponse,
  type BatchResultItem,
  type EvaluateResponse,
  type ExecuteOptions,
  type ExecuteRequest,
  type ExecuteResponse,
} from "./types";
