export type { AuthorizeOptions } from "./authorize";
export { normalizeResult, type PurutoCommandInvoker, purutoInvokerFrom } from "./connectors";
export {
  createGovernanceEngine,
  type GatewayHealth,
  type GovernanceEngine,
  type GovernanceEngineDeps,
  type SqliteGovernanceEngine,
} from "./engine";
export { MAX_PARAMS_VALUES, ParamsTooLargeError, paramsSizeProblem } from "./params-size";
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
  type ActionResult,
  ActionUnavailableError,
  OutcomePendingError,
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
