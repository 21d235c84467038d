// A runtime's error frame must not pass for one of Gatehouse's own notices: an IDE acts on those (a SESSION_EXPIRED
// drops its state, a TOKEN_EXPIRED makes it refresh and reconnect, a TOOL_DENIED says the policy ruled), and a
// hostile runtime (a prompt-injected agent) could fake them. Those codes are relayed as RUNTIME_ERROR.
import type { GatehouseOwnErrorCode, RuntimeError } from "../../../generated/messages/types";

/** Every code only Gatehouse sends (spec GatehouseOwnErrorCode): a code added to the spec must be added here. */
const GATEHOUSE_OWN: Record<GatehouseOwnErrorCode, true> = {
  INVALID_MESSAGE: true,
  SESSION_NOT_FOUND: true,
  SESSION_EXPIRED: true,
  TOKEN_EXPIRED: true,
  TOKEN_INVALID: true,
  UNAUTHORIZED: true,
  AGENT_UNAVAILABLE: true,
  INTERNAL_ERROR: true,
  RATE_LIMIT_EXCEEDED: true,
  TOOL_DENIED: true,
  TOO_MANY_PENDING_CALLS: true,
  RUNTIME_FRAME_INVALID: true,
  RUNTIME_ERROR: true,
};

/** The runtime's error frame as the IDE gets it: with a code only Gatehouse sends, RUNTIME_ERROR naming that code. */
export function asRuntimeError<F extends RuntimeError>(frame: F): F {
  if (!Object.hasOwn(GATEHOUSE_OWN, frame.error_code)) return frame;
  return { ...frame, error_code: "RUNTIME_ERROR", details: { ...frame.details, runtime_error_code: frame.error_code } };
}
